// A validated block's numbers: every branch lowered to what math/kernel.ts merges (a conv with its
// per-channel steps, or x through its per-channel steps), composite branches first reduced to one
// kernel in float64 (math/compose.ts), constants into the bias, the steps after the sum as one affine.
// The merge itself runs when a writer reads the merged tensors (lazy.ts); a block whose one full-size
// conv is a float32 file range streams from it.
import { ownedFloat32 } from '../formats/owned-floats';
import { ChainStep, chainBias, placeKernel, reduceChain } from '../math/compose';
import { Affine, Branch as MathBranch, MergeGeometry, ROWS_GIVEN, composeAffine, mergeBranches, rowMerge } from '../math/kernel';
import { Block, BnStep, AffineStep, Branch, ConvStep, Step, isPerChannel } from './block';
import { Geometry, Placement } from './geometry';
import { KernelSource, lazyKernelTensors, rowRange } from './lazy';
import { Tensor } from '../tensor';
import { affineOfStep, constValues, floats, overflowError } from './values';

/** The merged weight and bias of a block, computed (and checked) when first read. */
export function mergedTensors(block: Block, g: Geometry): { weight: Tensor; bias: Tensor } {
  const shape = [g.channelsOut, g.channelsIn / g.group, g.kernel[0], g.kernel[1]] as const;
  return lazyKernelTensors(shape, blockSource(block, g));
}

/**
 * Reads and checks everything but the conv weights (biases, BatchNorms, scales, constants): small, so a
 * conversion reads them before anything is written. Conv weights are checked through the merged values
 * (a merged value is finite exactly when every value that went in is, and nothing overflowed).
 */
export function checkSmallValues(block: Block, g: Geometry): void {
  for (const b of block.branches) {
    let c = g.channelsIn;
    for (const s of b.steps) {
      if (s.op === 'conv') {
        if (s.bias) floats(s.bias);
        c = s.weight.tensor.shape[0];
      } else if (isPerChannel(s)) affineOfStep(s, c);
      else if (s.op === 'const') constValues(s.value, g.channelsOut);
    }
  }
  for (const s of block.post) if (isPerChannel(s)) affineOfStep(s, g.channelsOut);
}

/** Where a zero-filled pad follows steps that add a bias, what those steps give for a zero input (must be 0). */
export function biasBeforePads(block: Block, g: Geometry): { branch: number; step: number; bias: Float64Array }[] {
  const out: { branch: number; step: number; bias: Float64Array }[] = [];
  block.branches.forEach((b, i) => {
    for (const at of g.branches[i].zeroBefore) out.push({ branch: i, step: at, bias: prefixBias(b.steps.slice(0, at), g.channelsIn) });
  });
  return out;
}

/** What `steps` give for a zero input, per channel. */
export function prefixBias(steps: readonly Step[], channelsIn: number): Float64Array {
  return chainBias(chainSteps(steps, channelsIn, true), channelsIn);
}

function blockSource(block: Block, g: Geometry): KernelSource {
  const geometry = (extra: Float64Array | undefined, post: Affine | undefined): MergeGeometry => ({ channelsIn: g.channelsIn, channelsOut: g.channelsOut, groups: g.group, post, extraBias: extra });
  const full = fullConv(block, g);
  const lower = (weightOf: (s: ConvStep) => Float32Array) => {
    const branches: MathBranch[] = [];
    let extra: Float64Array | undefined;
    block.branches.forEach((b, i) => {
      const p = g.branches[i];
      if (p.form === 'const') {
        const v = constValues((b.steps[0] as Extract<Step, { op: 'const' }>).value, g.channelsOut, false);
        extra ??= new Float64Array(g.channelsOut);
        for (let c = 0; c < g.channelsOut; c++) extra[c] += v[c];
      } else branches.push(lowerBranch(b, p, g, weightOf));
    });
    return { branches, geometry: geometry(extra, afterSum(block.post, g.channelsOut)) };
  };
  const compute = () => {
    // The full-size kernel, read into an array of our own, becomes the result: no second copy.
    let owned = false;
    const { branches, geometry: mg } = lower((s) => {
      const own = s === full ? ownedFloat32(s.weight.tensor) : undefined;
      if (own) owned = true;
      return own ?? floats(s.weight, false);
    });
    return mergeBranches(branches, mg, { reuseFullKernel: owned });
  };
  const range = full ? rowRange(full.weight.tensor) : undefined;
  const rows = range && {
    range,
    prepare: () => {
      const { branches, geometry: mg } = lower((s) => (s === full ? ROWS_GIVEN : floats(s.weight, false)));
      return rowMerge(branches, mg);
    },
  };
  const notFinite = (): never => {
    for (const b of block.branches) for (const s of b.steps) if (s.op === 'conv') floats(s.weight);
    throw overflowError(`the branches of ${block.name}`);
  };
  return { compute, rows, notFinite };
}

/** The block's one full-size conv, when exactly one branch is full-size and it is a plain conv. */
function fullConv(block: Block, g: Geometry): ConvStep | undefined {
  const full = block.branches.flatMap((b, i) => {
    const p = g.branches[i];
    if (p.form === 'composite') return [undefined];
    if (p.form !== 'simple' || b.steps[0]?.op !== 'conv') return [];
    return p.taps[0] === g.kernel[0] && p.taps[1] === g.kernel[1] ? [b.steps[0]] : [];
  });
  return full.length === 1 ? full[0] : undefined;
}

function lowerBranch(b: Branch, p: Placement, g: Geometry, weightOf: (s: ConvStep) => Float32Array): MathBranch {
  if (p.form === 'simple') {
    const conv = b.steps[0]?.op === 'conv' ? b.steps[0] : undefined;
    let c = conv ? conv.weight.tensor.shape[0] : g.channelsIn;
    let affine: Affine | undefined;
    for (const s of conv ? b.steps.slice(1) : b.steps) {
      const a = affineOfStep(s as BnStep | AffineStep, c, false);
      affine = affine ? composeAffine(affine, a) : a;
      c = a.scale.length;
    }
    if (!conv) return { kind: 'skip', affine };
    const shape = conv.weight.tensor.shape as unknown as readonly [number, number, number, number];
    const bias = conv.bias ? floats(conv.bias, false) : new Float32Array(shape[0]);
    return { kind: 'conv', kernel: { shape, weight: weightOf(conv), bias }, affine };
  }
  const r = reduceChain(chainSteps(b.steps, g.channelsIn, false), g.channelsIn, g.group);
  return { kind: 'conv', kernel: placeKernel(r, g.kernel, p.offset) };
}

/** The steps with their values read, for math/compose.ts. */
function chainSteps(steps: readonly Step[], channelsIn: number, check: boolean): ChainStep[] {
  let c = channelsIn;
  return steps.map((s): ChainStep => {
    switch (s.op) {
      case 'conv': {
        const shape = s.weight.tensor.shape as unknown as readonly [number, number, number, number];
        c = shape[0];
        return { op: 'conv', shape, weight: floats(s.weight, check), bias: s.bias ? floats(s.bias, check) : undefined, group: s.group, dilation: s.dilation, stride: s.stride, plusIdentity: s.plusIdentity };
      }
      case 'bn':
      case 'affine':
        return { op: 'affine', affine: affineOfStep(s, c, check) };
      case 'avgpool':
        return { op: 'pool', kernel: s.kernel, stride: s.stride };
      case 'pad':
        return { op: 'pad' };
      case 'const':
        throw new RangeError('a constant inside a chain');
    }
  });
}

function afterSum(post: readonly Step[], channels: number): Affine | undefined {
  let out: Affine | undefined;
  for (const s of post) {
    if (!isPerChannel(s)) throw new RangeError(`a ${s.op} after the sum`);
    const a = affineOfStep(s, channels, false);
    out = out ? composeAffine(out, a) : a;
  }
  return out;
}
