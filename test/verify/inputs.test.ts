// Random feeds: reproducible per seed, float16 rounding, and refusal of integer inputs.
import { UserError } from '../../src/errors';
import { halfToFloat } from '../../src/tensor';
import { floatToHalf, makeFeeds } from '../../src/verify/inputs';
import { seededRandom } from '../../src/verify/random';

const SEEDS = [2, 11, 314];

describe('makeFeeds', () => {
  const specs = [
    { name: 'a', dtype: 'float32', shape: [2, 3] },
    { name: 'b', dtype: 'float64', shape: [4] },
    { name: 'c', dtype: 'float16', shape: [5] },
  ];

  test('the same seed gives the same tensors; another seed does not', () => {
    const one = makeFeeds(specs, seededRandom(9), 'normal');
    const two = makeFeeds(specs, seededRandom(9), 'normal');
    const other = makeFeeds(specs, seededRandom(10), 'normal');
    for (const name of ['a', 'b', 'c']) {
      expect(Array.from(one[name].data as ArrayLike<number>)).toEqual(Array.from(two[name].data as ArrayLike<number>));
      expect(Array.from(one[name].data as ArrayLike<number>)).not.toEqual(Array.from(other[name].data as ArrayLike<number>));
    }
    expect(one.a.dims).toEqual([2, 3]);
    expect(one.a.type).toBe('float32');
    expect(one.c.type).toBe('float16');
  });

  test('uniform inputs lie in [-1, 1)', () => {
    const feeds = makeFeeds([{ name: 'x', dtype: 'float32', shape: [1000] }], seededRandom(4), 'uniform');
    const values = Array.from(feeds.x.data as Float32Array);
    expect(values.every((v) => v >= -1 && v < 1)).toBe(true);
  });

  test('integer inputs are refused with a reason', () => {
    const call = () => makeFeeds([{ name: 'ids', dtype: 'int64', shape: [1, 4] }], seededRandom(0), 'normal');
    expect(call).toThrow(UserError);
    expect(call).toThrow(/input "ids" is int64/);
    try {
      call();
    } catch (e) {
      expect((e as UserError).code).toBe('UNSUPPORTED');
    }
  });
});

describe('floatToHalf', () => {
  test.each(SEEDS)('rounds to the nearest half, and halves round-trip exactly (seed %i)', (seed) => {
    const r = seededRandom(seed);
    for (let i = 0; i < 2000; i++) {
      const x = r.normal() * 10 ** r.int(-6, 4);
      const h = floatToHalf(x);
      const back = halfToFloat(h);
      // No other half is closer (checking the neighbours is enough for a monotone encoding).
      for (const n of [h - 1, h + 1]) {
        if ((n & 0x7c00) === 0x7c00 || n < 0 || (n & 0x8000) !== (h & 0x8000)) continue;
        expect(Math.abs(halfToFloat(n) - Math.fround(x))).toBeGreaterThanOrEqual(Math.abs(back - Math.fround(x)));
      }
      expect(floatToHalf(back)).toBe(h);
    }
  });

  test('specials and the ends of the range', () => {
    expect(floatToHalf(0)).toBe(0);
    expect(floatToHalf(-0)).toBe(0x8000);
    expect(floatToHalf(65504)).toBe(0x7bff);
    expect(floatToHalf(1e6)).toBe(0x7c00);
    expect(floatToHalf(-Infinity)).toBe(0xfc00);
    expect(Number.isNaN(halfToFloat(floatToHalf(NaN)))).toBe(true);
    expect(floatToHalf(2 ** -24)).toBe(1); // smallest subnormal
    expect(floatToHalf(2 ** -26)).toBe(0);
  });
});
