// Reading a block's numbers: BN parameters and conv kernels as float32, with the checks that make a merge
// meaningful (every value finite, every running_var + eps above zero), each naming the tensor it refuses.
import { UserError } from '../errors';
import { BatchNormParams, Branch, Kernel, mergeBranches } from '../math/kernel';
import { Tensor, toFloat32 } from '../tensor';
import { BnKeys, ConvBranch, TrainBlock } from './blocks';

type Tensors = ReadonlyMap<string, Tensor>;

function floats(tensors: Tensors, key: string): Float32Array {
  const t = tensors.get(key);
  if (!t) throw new Error(`no tensor '${key}'`);
  if (t.dtype !== 'float32' && t.dtype !== 'float16' && t.dtype !== 'bfloat16' && t.dtype !== 'float64') {
    throw new UserError(`'${key}' is ${t.dtype}, not a floating-point tensor`, { code: 'BAD_INPUT' });
  }
  return toFloat32(t);
}

function finite(key: string, v: Float32Array): Float32Array {
  for (let i = 0; i < v.length; i++) {
    if (!Number.isFinite(v[i])) {
      throw new UserError(`'${key}' holds ${v[i]} at element ${i}: a merge of non-finite weights is meaningless`, {
        code: 'BAD_INPUT',
        hint: 'the training run diverged or the file is damaged; use an earlier checkpoint',
      });
    }
  }
  return v;
}

export function readBn(tensors: Tensors, keys: BnKeys, channels: number, eps: number): BatchNormParams {
  const variance = finite(keys.variance, floats(tensors, keys.variance));
  // In float32, as PyTorch adds them: var = -eps must count as zero.
  const eps32 = Math.fround(eps);
  for (let i = 0; i < variance.length; i++) {
    if (!(Math.fround(variance[i] + eps32) > 0)) {
      throw new UserError(`'${keys.variance}' holds ${variance[i]} at element ${i}, at or below -eps (${eps}): BN would divide by sqrt of a non-positive number`, {
        code: 'BAD_INPUT',
      });
    }
  }
  return {
    gamma: keys.weight ? finite(keys.weight, floats(tensors, keys.weight)) : new Float32Array(channels).fill(1),
    beta: keys.bias ? finite(keys.bias, floats(tensors, keys.bias)) : new Float32Array(channels),
    mean: finite(keys.mean, floats(tensors, keys.mean)),
    variance,
    eps,
  };
}

function readConv(tensors: Tensors, b: ConvBranch, eps: number): Branch {
  const t = tensors.get(b.weight)!;
  const shape = t.shape as unknown as readonly [number, number, number, number];
  const kernel: Kernel = {
    shape,
    weight: finite(b.weight, floats(tensors, b.weight)),
    bias: b.bias ? finite(b.bias, floats(tensors, b.bias)) : new Float32Array(shape[0]),
  };
  return { kind: 'conv', kernel, bn: b.bn ? readBn(tensors, b.bn, shape[0], eps) : undefined };
}

/** The block's branches as read and checked, ready for mergeBranches. */
export function readBranches(tensors: Tensors, block: TrainBlock, eps: number): Branch[] {
  const out: Branch[] = [readConv(tensors, block.dense, eps)];
  if (block.oneByOne) out.push(readConv(tensors, block.oneByOne, eps));
  if (block.identity) out.push({ kind: 'bn', bn: readBn(tensors, block.identity.bn, block.outChannels, eps) });
  return out;
}

/** The block's single equivalent kernel (BN folded, 1x1 centred, identity added). */
export function mergeBlock(tensors: Tensors, block: TrainBlock, eps: number): Kernel {
  const groups = block.groups ?? 1;
  const channelsIn = block.identity ? block.outChannels : block.inPerGroup * groups;
  return mergeBranches(readBranches(tensors, block, eps), { channelsIn, channelsOut: block.outChannels, groups });
}
