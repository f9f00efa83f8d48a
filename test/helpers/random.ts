// Seeded PRNG for property tests: every failure message carries the seed that reproduces it.
import { mulberry32 } from '../../src/verify/random';

export { mulberry32 };

export interface Rng {
  readonly seed: number;
  float(lo?: number, hi?: number): number;
  int(lo: number, hi: number): number;
  pick<T>(xs: readonly T[]): T;
  floats(n: number, lo?: number, hi?: number): Float32Array;
}

export function rng(seed: number): Rng {
  const next = mulberry32(seed);
  return {
    seed,
    float: (lo = -1, hi = 1) => lo + (hi - lo) * next(),
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (xs) => xs[Math.floor(next() * xs.length)],
    floats(n, lo = -1, hi = 1) {
      const a = new Float32Array(n);
      for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * next();
      return a;
    },
  };
}

/** Runs `body` for each seed; a failure names its seed. */
export function forSeeds(seeds: readonly number[], body: (r: Rng) => void): void {
  for (const seed of seeds) {
    try {
      body(rng(seed));
    } catch (e) {
      (e as Error).message = `[seed ${seed}] ${(e as Error).message}`;
      throw e;
    }
  }
}

export const SEEDS = Array.from({ length: 40 }, (_, i) => 1000 + i);
