// The re-parameterization math against a direct computation: run every branch as its own convolution
// on a random input, sum, and compare with one convolution by the merged kernel.
import { Branch, BatchNormParams, Kernel, affineOfBn, mergeBranches } from '../../src/math/kernel';
import { SEEDS, forSeeds, Rng } from '../helpers/random';

interface Geometry {
  c: number; // channels in
  o: number; // channels out
  g: number; // groups
  h: number;
  w: number;
}

/** y = conv2d(x, k) with stride 1, "same" padding for an odd kernel, in float64. */
function conv(x: Float64Array, k: Kernel, geo: Geometry): Float64Array {
  const [o, ipg, kh, kw] = k.shape;
  const y = new Float64Array(o * geo.h * geo.w);
  const opg = o / geo.g;
  for (let oc = 0; oc < o; oc++) {
    const grp = Math.floor(oc / opg);
    for (let yy = 0; yy < geo.h; yy++) {
      for (let xx = 0; xx < geo.w; xx++) {
        let s = k.bias[oc];
        for (let i = 0; i < ipg; i++) {
          const ic = grp * ipg + i;
          for (let dy = 0; dy < kh; dy++) {
            for (let dx = 0; dx < kw; dx++) {
              const sy = yy + dy - (kh - 1) / 2;
              const sx = xx + dx - (kw - 1) / 2;
              if (sy < 0 || sx < 0 || sy >= geo.h || sx >= geo.w) continue;
              s += k.weight[((oc * ipg + i) * kh + dy) * kw + dx] * x[(ic * geo.h + sy) * geo.w + sx];
            }
          }
        }
        y[(oc * geo.h + yy) * geo.w + xx] = s;
      }
    }
  }
  return y;
}

function bn(r: Rng, c: number): BatchNormParams {
  return { gamma: r.floats(c, 0.5, 1.5), beta: r.floats(c, -0.5, 0.5), mean: r.floats(c, -0.5, 0.5), variance: r.floats(c, 0.1, 2), eps: r.pick([1e-5, 1e-3]) };
}

function applyBn(y: Float64Array, p: BatchNormParams, hw: number): Float64Array {
  return y.map((v, i) => {
    const c = Math.floor(i / hw);
    return ((v - p.mean[c]) / Math.sqrt(p.variance[c] + p.eps)) * p.gamma[c] + p.beta[c];
  });
}

function randomKernel(r: Rng, o: number, ipg: number, kh: number, kw: number, bias: boolean): Kernel {
  return { shape: [o, ipg, kh, kw], weight: r.floats(o * ipg * kh * kw), bias: bias ? r.floats(o) : new Float32Array(o) };
}

function maxRelDiff(a: Float64Array, b: ArrayLike<number>): number {
  let m = 0;
  let ref = 1e-6;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i] - b[i]));
    ref = Math.max(ref, Math.abs(a[i]));
  }
  return m / ref;
}

describe('kernel math (40 seeded cases each)', () => {
  test('merged branches equal the sum of the branches run one by one', () => {
    forSeeds(SEEDS, (r) => {
      const g = r.pick([1, 2, 4]);
      const c = g * r.int(1, 3);
      const geo: Geometry = { c, o: c, g, h: r.int(3, 6), w: r.int(3, 6) };
      const x = Float64Array.from(r.floats(c * geo.h * geo.w));
      const K = r.pick([3, 5]);
      const shapes: [number, number][] = [[K, K], [1, 1], [1, K], [K, 1], [3, 3]];
      const branches: Branch[] = [];
      let expected = new Float64Array(c * geo.h * geo.w);
      const n = r.int(1, 4);
      for (let b = 0; b < n; b++) {
        const [kh, kw] = shapes[b];
        const k = randomKernel(r, c, c / g, kh, kw, r.int(0, 1) === 1);
        const withBn = r.int(0, 3) > 0 ? bn(r, c) : undefined;
        branches.push({ kind: 'conv', kernel: k, affine: withBn && affineOfBn(withBn) });
        let y = conv(x, k, geo);
        if (withBn) y = applyBn(y, withBn, geo.h * geo.w);
        expected = expected.map((v, i) => v + y[i]);
      }
      if (r.int(0, 1)) {
        const p = bn(r, c);
        branches.push({ kind: 'skip', affine: affineOfBn(p) });
        const y = applyBn(x, p, geo.h * geo.w);
        expected = expected.map((v, i) => v + y[i]);
      } else if (r.int(0, 1)) {
        branches.push({ kind: 'skip' });
        expected = expected.map((v, i) => v + x[i]);
      }
      const merged = mergeBranches(branches, { channelsIn: c, channelsOut: c, groups: g });
      const got = conv(x, merged, geo);
      expect(maxRelDiff(expected, got)).toBeLessThan(1e-5);
    });
  });

  test('a skip with groups is 1 at [i, i mod (C/groups), centre]', () => {
    forSeeds(SEEDS, (r) => {
      const g = r.pick([1, 2, 4, 8]);
      const c = g * r.int(1, 4);
      const k = r.pick([1, 3, 5]);
      const ipg = c / g;
      const zero: Branch = { kind: 'conv', kernel: { shape: [c, ipg, k, k], weight: new Float32Array(c * ipg * k * k), bias: new Float32Array(c) } };
      const id = mergeBranches([zero, { kind: 'skip' }], { channelsIn: c, channelsOut: c, groups: g });
      expect(id.shape).toEqual([c, ipg, k, k]);
      let ones = 0;
      id.weight.forEach((v, j) => {
        if (v === 0) return;
        ones++;
        const o = Math.floor(j / (ipg * k * k));
        const i = Math.floor(j / (k * k)) % ipg;
        const pos = j % (k * k);
        expect([v, i, pos]).toEqual([1, o % ipg, (k * k - 1) / 2]);
      });
      expect(ones).toBe(c);
    });
  });

  test('BN fold equals BN applied after the conv', () => {
    forSeeds(SEEDS, (r) => {
      const c = r.int(1, 6);
      const geo: Geometry = { c, o: c, g: 1, h: 4, w: 4 };
      const x = Float64Array.from(r.floats(c * 16));
      const k = randomKernel(r, c, c, 3, 3, true);
      const p = bn(r, c);
      const expected = applyBn(conv(x, k, geo), p, 16);
      const folded = mergeBranches([{ kind: 'conv', kernel: k, affine: affineOfBn(p) }], { channelsIn: c, channelsOut: c, groups: 1 });
      expect(maxRelDiff(expected, conv(x, folded, geo))).toBeLessThan(1e-5);
    });
  });

  test('a smaller kernel is centred, and what cannot centre is refused', () => {
    const frame: Branch = { kind: 'conv', kernel: { shape: [1, 1, 3, 3], weight: new Float32Array(9), bias: Float32Array.of(0) } };
    const row: Kernel = { shape: [1, 1, 1, 3], weight: Float32Array.of(1, 2, 3), bias: Float32Array.of(0) };
    expect(Array.from(mergeBranches([frame, { kind: 'conv', kernel: row }], { channelsIn: 1, channelsOut: 1, groups: 1 }).weight)).toEqual([0, 0, 0, 1, 2, 3, 0, 0, 0]);
    const even: Branch = { kind: 'conv', kernel: { shape: [1, 1, 4, 4], weight: new Float32Array(16), bias: Float32Array.of(0) } };
    expect(() => mergeBranches([even, { kind: 'conv', kernel: row }], { channelsIn: 1, channelsOut: 1, groups: 1 })).toThrow(/does not centre/);
    expect(() => mergeBranches([frame, { kind: 'skip' }], { channelsIn: 6, channelsOut: 6, groups: 4 })).toThrow(/groups/);
  });
});
