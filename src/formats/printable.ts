// Text taken from a file (names, keys, version strings) as it appears in messages: control characters
// escaped and long strings cut, so that a refusal stays one readable line whatever the file holds.

const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

export function printable(s: string, max = 120): string {
  const cut = s.length > max ? `${s.slice(0, max)}…` : s;
  return cut.replace(CONTROL, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}
