// "Did you mean …?" for a mistyped option, command or choice: the closest known word by edit distance
// (insertions, deletions, substitutions and swaps of neighbours), if it is close enough to be the intent.

/** Optimal string alignment distance: Levenshtein plus the swap of two adjacent characters. */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array(rows * cols);
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[(i - 1) * cols + j] + 1, d[i * cols + j - 1] + 1, d[(i - 1) * cols + j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[(i - 2) * cols + j - 2] + 1);
      d[i * cols + j] = v;
    }
  }
  return d[rows * cols - 1];
}

/**
 * The known word that `typed` most likely meant: the only one containing it (`gpu` → `webgpu`, `verb` →
 * `verbose`), else the nearest by edit distance when within a third of its length (1 to 3 edits, and
 * the word longer than two characters);
 * undefined when nothing is that close.
 */
export function closest(typed: string, knownWords: Iterable<string>): string | undefined {
  const t = typed.toLowerCase();
  const known = [...knownWords];
  if (t.length >= 3) {
    const containing = known.filter((k) => k.toLowerCase().includes(t));
    if (containing.length === 1) return containing[0];
  }
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(t, k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  // Two letters ("-x") are too few to guess from.
  const limit = Math.min(3, Math.max(1, Math.floor(t.length / 3)));
  return t.length > 2 && bestDistance <= limit ? best : undefined;
}

/** " (did you mean X?)" or "". */
export function didYouMean(typed: string, known: Iterable<string>, show: (s: string) => string = (s) => s): string {
  const c = closest(typed, known);
  return c === undefined ? '' : ` (did you mean ${show(c)}?)`;
}
