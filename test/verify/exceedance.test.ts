// The FP32 exceedance count of an FP16 candidate: checked against the pass rule applied element by
// element on seeded random data, and for JSON-safe values at the edges.
import { elementFails, ErrorAccumulator, ExceedanceCounter, REL_FLOOR, Tolerance } from '../../src/verify/compare';
import { seededRandom } from '../../src/verify/random';

const SEEDS = [5, 99, 4242, 777777];

describe('ExceedanceCounter', () => {
  test.each(SEEDS)('counts what the pass rule fails and measures the worst of those elements (seed %i)', (seed) => {
    const rng = seededRandom(seed);
    for (let round = 0; round < 20; round++) {
      const n = 100 + rng.int(0, 200);
      const ref = new Float32Array(n);
      const cand = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        ref[i] = rng.normal() * 10 ** rng.int(-3, 2);
        cand[i] = ref[i] + rng.normal() * 10 ** rng.int(-7, -1);
        if (rng.uniform() < 0.03) cand[i] = [NaN, Infinity][rng.int(0, 1)];
      }
      const tol: Tolerance = { atol: 10 ** rng.int(-6, -2), rtol: 10 ** rng.int(-6, -2) };
      const counter = new ExceedanceCounter(tol);
      counter.add(ref.subarray(0, 50), cand.subarray(0, 50));
      counter.add(ref.subarray(50), cand.subarray(50));
      const x = counter.result();
      let count = 0;
      let maxAbs = 0;
      let maxRel = 0;
      let maxTimes = 0;
      for (let i = 0; i < n; i++) {
        if (!elementFails(ref[i], cand[i], tol)) continue;
        count++;
        if (!Number.isFinite(cand[i])) continue;
        const d = Math.abs(cand[i] - ref[i]);
        maxAbs = Math.max(maxAbs, d);
        maxRel = Math.max(maxRel, d / Math.max(Math.abs(ref[i]), REL_FLOOR));
        maxTimes = Math.max(maxTimes, d / Math.max(tol.atol, tol.rtol * Math.abs(ref[i])));
      }
      expect(x).toEqual({ ...tol, count, maxAbsError: maxAbs, maxRelError: maxRel, maxAllowances: maxTimes });
      if (count > 0 && maxTimes > 0) expect(x.maxAllowances).toBeGreaterThan(1);
      // The same tolerance in the accumulator fails the same elements.
      const acc = new ErrorAccumulator(tol);
      acc.add(ref, cand);
      expect(acc.result().failingElements).toBe(count);
    }
  });

  test('zero tolerances give a finite, JSON-safe number of allowances', () => {
    const counter = new ExceedanceCounter({ atol: 0, rtol: 0 });
    counter.add(Float32Array.of(1, 2, NaN), Float32Array.of(1, 2.5, 0));
    const x = counter.result();
    expect(x).toMatchObject({ count: 2, maxAbsError: 0.5, maxRelError: 0.25, maxAllowances: Number.MAX_VALUE });
    expect(JSON.parse(JSON.stringify(x))).toEqual(x);
  });

  test('nothing beyond the tolerance reports zeros', () => {
    const counter = new ExceedanceCounter({ atol: 1e-4, rtol: 1e-4 });
    counter.add(Float32Array.of(1, -3), Float32Array.of(1.00001, -3));
    expect(counter.result()).toEqual({ atol: 1e-4, rtol: 1e-4, count: 0, maxAbsError: 0, maxRelError: 0, maxAllowances: 0 });
  });

  test('outputs of different lengths are refused', () => {
    expect(() => new ExceedanceCounter({ atol: 0, rtol: 0 }).add(new Float32Array(2), new Float32Array(3))).toThrow(RangeError);
  });
});
