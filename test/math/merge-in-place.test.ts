// mergeBranches writing over the full-size kernel (reuseFullKernel) gives the same bits as a fresh merge.
import { Branch, BatchNormParams, mergeBranches } from '../../src/math/kernel';
import { Rng, forSeeds, SEEDS } from '../helpers/random';

function bn(r: Rng, c: number): BatchNormParams {
  return { gamma: r.floats(c, 0.5, 1.5), beta: r.floats(c), mean: r.floats(c), variance: r.floats(c, 0.1, 2), eps: 1e-5 };
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
      const out: Branch[] = [{ kind: 'conv', kernel: { shape: [c, ipg, kh, kw], weight: weights(r, c * ipg * kh * kw), bias: r.floats(c) }, bn: bn(r, c) }];
      out.push({ kind: 'conv', kernel: { shape: [c, ipg, 1, 1], weight: weights(r, c * ipg), bias: new Float32Array(c) }, bn: r.float() < 0.5 ? bn(r, c) : undefined });
      if (r.float() < 0.5) out.push({ kind: 'bn', bn: bn(r, c) });
      if (r.float() < 0.3) out.push({ kind: 'identity' });
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
