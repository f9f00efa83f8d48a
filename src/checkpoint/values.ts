// Reading a block's numbers: BN parameters and conv kernels as float32, with the checks that make a merge
// meaningful (every value finite, every running_var + eps above zero), each naming the tensor it refuses.
import { UserError } from '../errors';
import { BatchNormParams, Branch, Kernel, MergeGeometry, MergedKernel, ROWS_GIVEN, affineOfBn, mergeBranches, rowMerge } from '../math/kernel';
import { RowSource, rowRange } from '../reparam/lazy';
import { ownedFloat32 } from '../formats/owned-floats';
import { printable } from '../formats/printable';
import { assertFinite, assertFiniteTensor, checkVariance, overflowError } from '../reparam/values';
import { Tensor, toFloat32 } from '../tensor';
import { BnKeys, ConvBranch, TrainBlock } from './blocks';

type Tensors = ReadonlyMap<string, Tensor>;

export interface ReadOptions {
  /** Check values (finite, variance above -eps). Off when merging: small tensors were checked by checkBlock, kernels are checked through the merged values. */
  readonly check?: boolean;
}

function tensorAt(tensors: Tensors, key: string): Tensor {
  const t = tensors.get(key);
  if (!t) throw new Error(`no tensor '${key}'`);
  if (t.dtype !== 'float32' && t.dtype !== 'float16' && t.dtype !== 'bfloat16' && t.dtype !== 'float64') {
    throw new UserError(`'${printable(key)}' is ${t.dtype}, not a floating-point tensor`, { code: 'BAD_INPUT' });
  }
  return t;
}

function floats(tensors: Tensors, key: string): Float32Array {
  return toFloat32(tensorAt(tensors, key));
}

function finite(key: string, v: Float32Array, o: ReadOptions): Float32Array {
  if (o.check !== false) assertFinite(key, v);
  return v;
}

/** A tensor passed through unchanged (a classifier head) must be finite too. */
export const assertFinitePassthrough = assertFiniteTensor;

/**
 * Checks a block's small tensors (finite conv biases and BN parameters, BN variance above -eps). Kernels
 * are checked as they are merged: a merged value is finite exactly when every input value is (and
 * nothing overflows), so a bad kernel is found then, and named by blameBlock.
 */
export function checkBlock(tensors: Tensors, block: TrainBlock, eps: number): void {
  for (const b of [block.dense, block.oneByOne]) {
    if (!b) continue;
    tensorAt(tensors, b.weight);
    if (b.bias) finite(b.bias, floats(tensors, b.bias), {});
    if (b.bn) readBn(tensors, b.bn, tensors.get(b.weight)!.shape[0], eps);
  }
  if (block.identity) readBn(tensors, block.identity.bn, block.outChannels, eps);
}

export function readBn(tensors: Tensors, keys: BnKeys, channels: number, eps: number, o: ReadOptions = {}): BatchNormParams {
  const variance = finite(keys.variance, floats(tensors, keys.variance), o);
  if (o.check !== false) checkVariance(keys.variance, variance, eps);
  return {
    gamma: keys.weight ? finite(keys.weight, floats(tensors, keys.weight), o) : new Float32Array(channels).fill(1),
    beta: keys.bias ? finite(keys.bias, floats(tensors, keys.bias), o) : new Float32Array(channels),
    mean: finite(keys.mean, floats(tensors, keys.mean), o),
    variance,
    eps,
  };
}

function readConv(tensors: Tensors, b: ConvBranch, eps: number, o: ReadOptions, own = false): { branch: Branch; owned: boolean } {
  const t = tensors.get(b.weight)!;
  const shape = t.shape as unknown as readonly [number, number, number, number];
  const owned = own ? ownedFloat32(tensorAt(tensors, b.weight)) : undefined;
  const kernel: Kernel = {
    shape,
    weight: finite(b.weight, owned ?? floats(tensors, b.weight), o),
    bias: b.bias ? finite(b.bias, floats(tensors, b.bias), o) : new Float32Array(shape[0]),
  };
  return { branch: { kind: 'conv', kernel, affine: b.bn ? affineOfBn(readBn(tensors, b.bn, shape[0], eps, o)) : undefined }, owned: !!owned };
}

function readBlock(tensors: Tensors, block: TrainBlock, eps: number, o: ReadOptions, ownDense: boolean, withDense = true): { branches: Branch[]; denseOwned: boolean } {
  const dense = withDense ? readConv(tensors, block.dense, eps, o, ownDense) : undefined;
  const out: Branch[] = dense ? [dense.branch] : [];
  if (block.oneByOne) out.push(readConv(tensors, block.oneByOne, eps, o).branch);
  if (block.identity) out.push({ kind: 'skip', affine: affineOfBn(readBn(tensors, block.identity.bn, block.outChannels, eps, o)) });
  return { branches: out, denseOwned: !!dense?.owned };
}

function geometry(block: TrainBlock): MergeGeometry {
  const groups = block.groups ?? 1;
  return { channelsIn: block.identity ? block.outChannels : block.inPerGroup * groups, channelsOut: block.outChannels, groups };
}

/** The merge writes over the dense kernel only when no other branch is as large. */
function denseAlone(block: TrainBlock): boolean {
  const one = block.oneByOne?.kernel;
  return !one || one[0] < block.kernel[0] || one[1] < block.kernel[1];
}

/**
 * The block's single equivalent kernel (BN folded, 1x1 centred, identity added). The small tensors were
 * checked by checkBlock; the dense kernel is read into an array of its own, which becomes the merged kernel.
 */
export function mergeBlock(tensors: Tensors, block: TrainBlock, eps: number): MergedKernel {
  const { branches, denseOwned } = readBlock(tensors, block, eps, { check: false }, true);
  return mergeBranches(branches, geometry(block), { reuseFullKernel: denseOwned && denseAlone(block) });
}

/** The block merged a slice of output channels at a time, when its dense kernel is a float32 file range. */
export function blockRows(tensors: Tensors, block: TrainBlock, eps: number): RowSource | undefined {
  const range = denseAlone(block) ? rowRange(tensorAt(tensors, block.dense.weight)) : undefined;
  if (!range) return undefined;
  return {
    range,
    prepare: () => {
      const dense = tensorAt(tensors, block.dense.weight);
      const bias = block.dense.bias ? floats(tensors, block.dense.bias) : new Float32Array(dense.shape[0]);
      const first: Branch = {
        kind: 'conv',
        kernel: { shape: dense.shape as unknown as Kernel['shape'], weight: ROWS_GIVEN, bias },
        affine: block.dense.bn ? affineOfBn(readBn(tensors, block.dense.bn, dense.shape[0], eps, { check: false })) : undefined,
      };
      const rest = readBlock(tensors, block, eps, { check: false }, false, false).branches;
      return rowMerge([first, ...rest], geometry(block));
    },
  };
}

/** Throws the error that names why a block's merge is not finite: the input holding NaN or Inf, or an overflow. */
export function blameBlock(tensors: Tensors, block: TrainBlock, eps: number): never {
  readBlock(tensors, block, eps, {}, false);
  throw overflowError(`the block of '${block.dense.weight}'`);
}
