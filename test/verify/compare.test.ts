// The pass rule and error statistics, checked against a direct restatement of the rule on seeded
// random data. Seeds are recorded so a failure names the data that caused it.
import { elementFails, ErrorAccumulator, Tolerance } from '../../src/verify/compare';
import { Random, seededRandom } from '../../src/verify/random';

const SEEDS = [1, 7, 42, 1234, 20261125];

/** The rule as the docs state it. */
function oracleFails(r: number, c: number, t: Tolerance): boolean {
  if (Number.isNaN(r) && Number.isNaN(c)) return false;
  if (Number.isNaN(r) || Number.isNaN(c)) return true;
  if (!Number.isFinite(r) || !Number.isFinite(c)) return r !== c;
  const d = Math.abs(c - r);
  return d > t.atol && d > t.rtol * Math.abs(r);
}

interface Case {
  ref: Float32Array;
  cand: Float32Array;
  tol: Tolerance;
}

/** Reference values over many magnitudes; candidates equal, slightly off, far off, or non-finite. */
function randomCase(rng: Random, n: number, nonFinite: boolean): Case {
  const ref = new Float32Array(n);
  const cand = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    ref[i] = rng.normal() * 10 ** (rng.uniform() * 6 - 3);
    const kind = rng.uniform();
    if (kind < 0.2) cand[i] = ref[i];
    else if (kind < 0.8) cand[i] = ref[i] + rng.normal() * 10 ** (rng.uniform() * 8 - 8);
    else cand[i] = ref[i] * (1 + rng.normal() * 0.1);
    if (nonFinite && rng.uniform() < 0.05) {
      const special = [NaN, Infinity, -Infinity][rng.int(0, 2)];
      if (rng.uniform() < 0.5) cand[i] = special;
      else ref[i] = special;
      if (rng.uniform() < 0.3) cand[i] = ref[i];
    }
  }
  return { ref, cand, tol: { atol: 10 ** (rng.uniform() * 7 - 8), rtol: 10 ** (rng.uniform() * 7 - 8) } };
}

describe('pass rule', () => {
  test.each(SEEDS)('failing count equals the rule applied element by element (seed %i)', (seed) => {
    const rng = seededRandom(seed);
    for (let round = 0; round < 20; round++) {
      const { ref, cand, tol } = randomCase(rng, 200, true);
      const acc = new ErrorAccumulator(tol);
      acc.add(ref, cand);
      let expected = 0;
      for (let i = 0; i < ref.length; i++) {
        expect(elementFails(ref[i], cand[i], tol)).toBe(oracleFails(ref[i], cand[i], tol));
        if (oracleFails(ref[i], cand[i], tol)) expected++;
      }
      expect(acc.result().failingElements).toBe(expected);
    }
  });

  test.each(SEEDS)('raising atol or rtol never adds failures (seed %i)', (seed) => {
    const rng = seededRandom(seed);
    for (let round = 0; round < 20; round++) {
      const { ref, cand, tol } = randomCase(rng, 200, false);
      const count = (t: Tolerance) => {
        const acc = new ErrorAccumulator(t);
        acc.add(ref, cand);
        return acc.result().failingElements;
      };
      const base = count(tol);
      expect(count({ ...tol, atol: tol.atol * 10 })).toBeLessThanOrEqual(base);
      expect(count({ ...tol, rtol: tol.rtol * 10 })).toBeLessThanOrEqual(base);
      expect(count({ atol: tol.atol / 10, rtol: tol.rtol / 10 })).toBeGreaterThanOrEqual(base);
    }
  });

  test.each(SEEDS)('with atol 0 the verdict does not change when both sides are scaled by a power of two (seed %i)', (seed) => {
    const rng = seededRandom(seed);
    const { ref, cand, tol } = randomCase(rng, 500, false);
    const t = { atol: 0, rtol: tol.rtol };
    const k = 2 ** rng.int(-20, 20);
    for (let i = 0; i < ref.length; i++) {
      expect(elementFails(ref[i] * k, cand[i] * k, t)).toBe(elementFails(ref[i], cand[i], t));
    }
  });

  test('an element passes when it is within either tolerance, and fails only past both', () => {
    const t = { atol: 0.5, rtol: 0.125 }; // powers of two keep the boundaries exact
    expect(elementFails(1, 1.5, t)).toBe(false); // exactly atol
    expect(elementFails(8, 9, t)).toBe(false); // past atol, exactly rtol * 8
    expect(elementFails(100, 112, t)).toBe(false); // past atol, within rtol * 100
    expect(elementFails(1, 1.75, t)).toBe(true); // past both
    expect(elementFails(100, 113, t)).toBe(true);
    expect(elementFails(-100, -113, t)).toBe(true);
  });

  test('rtol is relative to the reference, not the candidate', () => {
    const t = { atol: 0, rtol: 0.4 };
    expect(elementFails(1, 1.5, t)).toBe(true); // 0.5 > 0.4 * 1
    expect(elementFails(1.5, 1, t)).toBe(false); // 0.5 <= 0.4 * 1.5
  });

  test('NaN and infinities must match exactly', () => {
    const t = { atol: 1, rtol: 1 };
    expect(elementFails(NaN, NaN, t)).toBe(false);
    expect(elementFails(NaN, 0, t)).toBe(true);
    expect(elementFails(0, NaN, t)).toBe(true);
    expect(elementFails(Infinity, Infinity, t)).toBe(false);
    expect(elementFails(-Infinity, -Infinity, t)).toBe(false);
    expect(elementFails(Infinity, -Infinity, t)).toBe(true);
    expect(elementFails(Infinity, 3e38, t)).toBe(true);
    expect(elementFails(NaN, Infinity, t)).toBe(true);
  });
});

describe('statistics', () => {
  test.each(SEEDS)('max, mean and median of |candidate - reference| match a direct computation (seed %i)', (seed) => {
    const rng = seededRandom(seed);
    const { ref, cand, tol } = randomCase(rng, 301, false);
    const acc = new ErrorAccumulator(tol);
    acc.add(ref, cand);
    const s = acc.result();
    const diffs = Array.from(ref, (r, i) => Math.abs(cand[i] - r));
    const sorted = Float32Array.from(diffs).sort();
    expect(s.elements).toBe(301);
    expect(s.maxAbsError).toBe(Math.max(...diffs));
    expect(s.meanAbsError).toBeCloseTo(diffs.reduce((a, b) => a + b, 0) / diffs.length, 12);
    expect(s.medianAbsError).toBe(sorted[150]);
    expect(s.medianOver).toBe(301);
    const worst = s.worst!;
    expect(Math.abs(worst.candidate - worst.reference)).toBe(s.maxAbsError);
    expect(ref[worst.index]).toBe(worst.reference);
    const rel = Math.max(...diffs.map((d, i) => (d === 0 ? 0 : d / Math.abs(ref[i]))));
    expect(s.maxRelError).toBeCloseTo(rel, 6);
  });

  test.each(SEEDS)('samples added one by one give the same statistics as one concatenated sample (seed %i)', (seed) => {
    const rng = seededRandom(seed);
    const a = randomCase(rng, 64, true);
    const b = randomCase(rng, 64, true);
    const split = new ErrorAccumulator(a.tol);
    split.add(a.ref, a.cand);
    split.add(b.ref, b.cand);
    const whole = new ErrorAccumulator(a.tol);
    const cat = (x: Float32Array, y: Float32Array) => Float32Array.of(...x, ...y);
    whole.add(cat(a.ref, b.ref), cat(a.cand, b.cand));
    const s = split.result();
    const w = whole.result();
    for (const k of ['elements', 'failingElements', 'maxAbsError', 'maxRelError', 'medianAbsError', 'nonFiniteMismatches'] as const) {
      expect(s[k]).toBe(w[k]);
    }
    expect(s.meanAbsError).toBeCloseTo(w.meanAbsError, 12);
    expect(s.cosineSimilarity).toBeCloseTo(w.cosineSimilarity, 12);
    expect(s.nanCount).toEqual(w.nanCount);
  });

  test('cosine similarity is 1 for equal outputs and -1 for negated ones', () => {
    const v = Float32Array.of(1, -2, 3, 0.5);
    const same = new ErrorAccumulator({ atol: 0, rtol: 0 });
    same.add(v, v);
    expect(same.result().cosineSimilarity).toBeCloseTo(1, 12);
    expect(same.result().failingElements).toBe(0);
    expect(same.result().maxAbsError).toBe(0);
    const neg = new ErrorAccumulator({ atol: 0, rtol: 0 });
    neg.add(v, v.map((x) => -x));
    expect(neg.result().cosineSimilarity).toBeCloseTo(-1, 12);
    const zeros = new ErrorAccumulator({ atol: 0, rtol: 0 });
    zeros.add(new Float32Array(3), new Float32Array(3));
    expect(zeros.result().cosineSimilarity).toBe(1);
  });

  test('NaN and infinity are counted per side and kept out of the error statistics', () => {
    const acc = new ErrorAccumulator({ atol: 1e-3, rtol: 1e-3 });
    acc.add(Float32Array.of(NaN, 1, Infinity, 2, NaN), Float32Array.of(NaN, 1, Infinity, NaN, 5));
    const s = acc.result();
    expect(s.nanCount).toEqual({ reference: 2, candidate: 2 });
    expect(s.infCount).toEqual({ reference: 1, candidate: 1 });
    expect(s.nonFiniteMismatches).toBe(2);
    expect(s.failingElements).toBe(2);
    expect(s.maxAbsError).toBe(0);
    expect(s.firstFailure).toEqual({ sample: 0, index: 3, reference: 2, candidate: NaN });
  });

  test('top-1 agreement compares the argmax of each row', () => {
    const acc = new ErrorAccumulator({ atol: 0, rtol: 0 });
    // Three rows of four classes; the second row's winner changes.
    acc.add(Float32Array.of(0, 5, 1, 2, 9, 1, 1, 1, 0, 0, 0, 3), Float32Array.of(0, 4, 1, 2, 1, 9, 1, 1, 0, 0, 0, 2.5), 4);
    const s = acc.result();
    expect(s.top1Rows).toBe(3);
    expect(s.top1Agreement).toBeCloseTo(2 / 3, 12);
    const plain = new ErrorAccumulator({ atol: 0, rtol: 0 });
    plain.add(Float32Array.of(1, 2), Float32Array.of(1, 2));
    expect(plain.result().top1Agreement).toBeUndefined();
  });

  test('past the median limit the median covers the first elements and says how many', () => {
    const acc = new ErrorAccumulator({ atol: 0, rtol: 0 }, 10);
    const ref = new Float32Array(25);
    const cand = Float32Array.from({ length: 25 }, (_, i) => i);
    acc.add(ref, cand);
    const s = acc.result();
    expect(s.medianOver).toBe(10);
    expect(s.medianAbsError).toBe(4.5);
    expect(s.maxAbsError).toBe(24);
  });

  test('outputs of different lengths are refused', () => {
    const acc = new ErrorAccumulator({ atol: 0, rtol: 0 });
    expect(() => acc.add(new Float32Array(2), new Float32Array(3))).toThrow(RangeError);
  });
});
