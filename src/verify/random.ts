// Seeded random numbers for verification inputs and property tests. mulberry32 is tiny, fast and
// reproducible across platforms, which matters more here than statistical quality.

/** A uniform generator in [0, 1) from a 32-bit seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Random {
  /** Uniform in [0, 1). */
  uniform(): number;
  /** Standard normal (Box-Muller; the spare value is kept so no draw is wasted). */
  normal(): number;
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number;
}

export function seededRandom(seed: number): Random {
  const next = mulberry32(seed);
  let spare: number | undefined;
  return {
    uniform: next,
    normal() {
      if (spare !== undefined) {
        const s = spare;
        spare = undefined;
        return s;
      }
      // 1 - u keeps the log argument in (0, 1].
      const r = Math.sqrt(-2 * Math.log(1 - next()));
      const theta = 2 * Math.PI * next();
      spare = r * Math.sin(theta);
      return r * Math.cos(theta);
    },
    int(lo, hi) {
      return lo + Math.floor(next() * (hi - lo + 1));
    },
  };
}
