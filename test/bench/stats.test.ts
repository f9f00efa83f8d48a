// Percentiles and spreads, checked against their definitions on seeded random data.
import { mean, quantile, spread } from '../../src/bench/stats';
import { forSeeds } from '../helpers/random';

const SEEDS = [11, 12, 13, 14, 15, 16, 17, 18];

describe('quantile', () => {
  test('interpolates linearly between the nearest ranks', () => {
    expect(quantile([3, 1, 2], 0.5)).toBe(2);
    expect(quantile([4, 1, 3, 2], 0.5)).toBe(2.5);
    expect(quantile([10, 20], 0.9)).toBe(19);
    expect(quantile([7], 0.1)).toBe(7);
    expect(quantile([1, 2, 3, 4, 5], 0.9)).toBeCloseTo(4.6, 12);
  });

  test('is the minimum at 0, the maximum at 1, monotone in q, within [min, max]; input order does not matter', () => {
    forSeeds(SEEDS, (r) => {
      const values = Array.from(r.floats(r.int(1, 40), 0.1, 100));
      const shuffled = [...values].sort(() => r.float() - 0.5);
      expect(quantile(values, 0)).toBe(Math.min(...values));
      expect(quantile(values, 1)).toBe(Math.max(...values));
      let previous = -Infinity;
      for (let q = 0; q <= 1; q += 0.05) {
        const v = quantile(values, q);
        expect(v).toBeGreaterThanOrEqual(previous);
        expect(quantile(shuffled, q)).toBe(v);
        previous = v;
      }
    });
  });

  test('does not reorder its argument, and refuses empty lists and q outside [0, 1]', () => {
    const values = [3, 1, 2];
    quantile(values, 0.5);
    expect(values).toEqual([3, 1, 2]);
    expect(() => quantile([], 0.5)).toThrow(RangeError);
    expect(() => quantile([1], 1.5)).toThrow(RangeError);
    expect(() => quantile([1], NaN)).toThrow(RangeError);
  });
});

describe('spread and mean', () => {
  test('spread orders its fields: min <= p10 <= p50 <= p90 <= max', () => {
    forSeeds(SEEDS, (r) => {
      const s = spread(Array.from(r.floats(r.int(1, 30), 0.5, 2)));
      expect(s.min).toBeLessThanOrEqual(s.p10);
      expect(s.p10).toBeLessThanOrEqual(s.p50);
      expect(s.p50).toBeLessThanOrEqual(s.p90);
      expect(s.p90).toBeLessThanOrEqual(s.max);
    });
  });

  test('mean', () => {
    expect(mean([1, 2, 6])).toBe(3);
    expect(() => mean([])).toThrow(RangeError);
  });
});
