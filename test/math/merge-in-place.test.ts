// mergeBranches writing over the full-size kernel (reuseFullKernel), and the row-by-row merge and fold that
// writers stream, give the same bits as a fresh merge.
import { Affine, Branch, BatchNormParams, affineOfBn, fullSizeBranch, mergeBranches, rowMerge } from '../../src/math/kernel';
import { simdSharedBuffer } from '../../src/math/simd-scale';
import { Rng, forSeeds, rng, SEEDS } from '../helpers/random';

function bn(r: Rng, c: number): Affine {
  const p: BatchNormParams = { gamma: r.floats(c, 0.5, 1.5), beta: r.floats(c), mean: r.floats(c), variance: r.floats(c, 0.1, 2), eps: 1e-5 };
  return affineOfBn(p);
}

/** Weights with exact zeros of both signs, so +0/-0 handling is covered too. */
function weights(r: Rng, n: number): Float32Array {
  const w = r.floats(n, -2, 2);
  for (let i = 0; i < n; i += 7) w[i] = r.float() < 0 ? -0 : 0;
  return w;
}

test('reusing the full-size kernel gives the same merged bits', () => {
  forSeeds(SEEDS, (r) => {
    const groups = r.pick([1, 2, 4]);
    const ipg = r.int(1, 4);
    const c = groups * ipg;
    const [kh, kw] = r.pick([[3, 3], [5, 5], [3, 1]] as const);
    const make = (): Branch[] => {
      const out: Branch[] = [{ kind: 'conv', kernel: { shape: [c, ipg, kh, kw], weight: weights(r, c * ipg * kh * kw), bias: r.floats(c) }, affine: bn(r, c) }];
      out.push({ kind: 'conv', kernel: { shape: [c, ipg, 1, 1], weight: weights(r, c * ipg), bias: new Float32Array(c) }, affine: r.float() < 0.5 ? bn(r, c) : undefined });
      if (r.float() < 0.5) out.push({ kind: 'skip', affine: bn(r, c) });
      if (r.float() < 0.3) out.push({ kind: 'skip' });
      return out;
    };
    const branches = make();
    // Same branches with the full-size kernel's weights in an array of their own.
    const copy = branches.map((b) => (b.kind === 'conv' ? { ...b, kernel: { ...b.kernel, weight: b.kernel.weight.slice() } } : b));
    const geometry = { channelsIn: c, channelsOut: c, groups };
    const fresh = mergeBranches(branches, geometry);
    const reused = mergeBranches(copy, geometry, { reuseFullKernel: true });
    expect(reused.weight).toBe((copy[0] as Extract<Branch, { kind: 'conv' }>).kernel.weight);
    expect(new Uint32Array(reused.weight.buffer)).toEqual(new Uint32Array(fresh.weight.buffer));
    expect(new Uint32Array(reused.bias.buffer)).toEqual(new Uint32Array(fresh.bias.buffer));
  });
});

const SIMD_MEMORY = simdSharedBuffer(1 << 20);

/** Splits `rows` output channels into random runs: the slices a streaming writer would ask for. */
function slices(r: Rng, rows: number): [number, number][] {
  const out: [number, number][] = [];
  for (let from = 0; from < rows; ) {
    const n = Math.min(rows - from, r.int(1, 3));
    out.push([from, n]);
    from += n;
  }
  return out;
}

test('merging row by row in slices gives the bits of a whole merge', () => {
  forSeeds(SEEDS, (r) => {
    const groups = r.pick([1, 2]);
    const ipg = r.int(1, 4);
    const c = groups * ipg;
    const [kh, kw] = r.pick([[3, 3], [5, 5], [3, 1]] as const);
    // BN folded into the convs already (as PyTorch's eval export does) or not.
    const full: Branch = { kind: 'conv', kernel: { shape: [c, ipg, kh, kw], weight: weights(r, c * ipg * kh * kw), bias: r.floats(c) }, affine: r.float() < 0.7 ? bn(r, c) : undefined };
    const others: Branch[] = [{ kind: 'conv', kernel: { shape: [c, ipg, 1, 1], weight: weights(r, c * ipg), bias: new Float32Array(c) }, affine: r.float() < 0.5 ? bn(r, c) : undefined }];
    if (r.float() < 0.5) others.push({ kind: 'skip', affine: bn(r, c) });
    if (r.float() < 0.3) others.push({ kind: 'skip' });
    // The full-size branch anywhere in the order: the sums keep the order, so the bits do too.
    const at = r.int(0, others.length);
    const branches = [...others.slice(0, at), full, ...others.slice(at)];
    expect(fullSizeBranch(branches)).toBe(at);
    const geometry = { channelsIn: c, channelsOut: c, groups };
    const whole = mergeBranches(branches, geometry);
    const m = rowMerge(branches.map((b, j) => (j === at ? { ...full, kernel: { ...full.kernel, weight: new Float32Array(0) } } : b)), geometry);
    expect(new Uint32Array(m.bias.buffer)).toEqual(new Uint32Array(whole.bias.buffer));
    const per = m.rowLength;
    // In plain arrays (the scalar loops) and in the writer's WebAssembly memory (the SIMD ones).
    for (const memory of [undefined, SIMD_MEMORY]) {
      const streamed = new Float32Array(whole.weight.length);
      for (const [from, n] of slices(r, c)) {
        const rows = memory ? new Float32Array(memory, 4 * r.int(0, 5), n * per) : new Float32Array(n * per);
        rows.set((full as Extract<Branch, { kind: 'conv' }>).kernel.weight.subarray(from * per, (from + n) * per));
        expect(m.mergeRows(from, rows)).toBe(true);
        streamed.set(rows, from * per);
      }
      expect(new Uint32Array(streamed.buffer)).toEqual(new Uint32Array(whole.weight.buffer));
    }
    expect(whole.finite).toBe(true);
  });
});

test('a fold (one conv and its BN) row by row gives the bits of the whole fold', () => {
  forSeeds(SEEDS, (r) => {
    const [o, i, h, w] = [r.int(1, 6), r.int(1, 4), r.pick([1, 3]), r.pick([1, 3])];
    const kernel = { shape: [o, i, h, w] as const, weight: weights(r, o * i * h * w), bias: r.floats(o) };
    const branches: Branch[] = [{ kind: 'conv', kernel, affine: bn(r, o) }];
    const geometry = { channelsIn: i, channelsOut: o, groups: 1 };
    const whole = mergeBranches(branches, geometry);
    const m = rowMerge([{ ...branches[0], kernel: { ...kernel, weight: new Float32Array(0) } } as Branch], geometry);
    expect(new Uint32Array(m.bias.buffer)).toEqual(new Uint32Array(whole.bias.buffer));
    const streamed = new Float32Array(whole.weight.length);
    for (const [from, n] of slices(r, o)) {
      const rows = kernel.weight.slice(from * m.rowLength, (from + n) * m.rowLength);
      expect(m.mergeRows(from, rows)).toBe(true);
      streamed.set(rows, from * m.rowLength);
    }
    expect(new Uint32Array(streamed.buffer)).toEqual(new Uint32Array(whole.weight.buffer));
  });
});

test('a merged value that is not finite is reported, whole or row by row', () => {
  const r = rng(5);
  const c = 4;
  const make = (poison: number): Branch[] => {
    const w = weights(r, c * c * 9);
    w[13] = poison;
    return [
      { kind: 'conv', kernel: { shape: [c, c, 3, 3], weight: w, bias: new Float32Array(c) }, affine: bn(r, c) },
      { kind: 'conv', kernel: { shape: [c, c, 1, 1], weight: weights(r, c * c), bias: new Float32Array(c) } },
    ];
  };
  const geometry = { channelsIn: c, channelsOut: c, groups: 1 };
  for (const poison of [NaN, Infinity, -Infinity]) expect(mergeBranches(make(poison), geometry).finite).toBe(false);
  // Finite inputs whose product passes float32's range (weight 13 is in output channel 1).
  const big = make(3e38);
  (big[0] as Extract<Branch, { kind: 'conv' }>).affine!.scale[1] *= 10 / 1.5;
  expect(mergeBranches(big, geometry).finite).toBe(false);
  expect(mergeBranches(make(0.5), geometry).finite).toBe(true);
  // A NaN in a touched tap (the centre, which the 1x1 branch adds to) and in a plain tap, in plain and SIMD memory.
  for (const at of [4, 5]) {
    for (const memory of [undefined, SIMD_MEMORY]) {
      const branches = make(0.5);
      (branches[0] as Extract<Branch, { kind: 'conv' }>).kernel.weight[at] = NaN;
      const m = rowMerge(branches, geometry);
      const rows = memory ? new Float32Array(memory, 0, 9 * c) : new Float32Array(9 * c);
      rows.set((branches[0] as Extract<Branch, { kind: 'conv' }>).kernel.weight.subarray(0, 9 * c));
      expect(m.mergeRows(0, rows)).toBe(false);
    }
  }
});
