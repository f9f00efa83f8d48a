// Reading a block's numbers, and the checks that make a merge meaningful, in one place for every path:
// each value finite, and each BatchNorm's running_var + eps above zero, added in float32 as PyTorch and
// onnxruntime add them (a variance of exactly −eps counts as zero). A tensor a conversion passes through
// untouched (a classifier head) gets the same finite check and the same message. All of them are the
// input's fault: exit 2, with one hint.
import { UserError } from '../errors';
import { firstNonFinite } from '../formats/finite';
import { printable } from '../formats/printable';
import { Affine, affineOfBn } from '../math/kernel';
import { Tensor, toFloat32 } from '../tensor';
import { AffineStep, BnStep, Param } from './block';

export const DAMAGED_HINT = 'the weights are damaged (a diverged training run or a corrupted file): use a healthy model or an earlier checkpoint';

export function nonFiniteError(name: string, value: number, index: number): UserError {
  return new UserError(`'${printable(name)}' holds ${value} at element ${index}: a model with NaN or Inf weights cannot be converted`, { code: 'BAD_INPUT', hint: DAMAGED_HINT });
}

/** The merge of `what` overflowed float32 although every input was finite. */
export function overflowError(what: string): UserError {
  return new UserError(`merging ${printable(what)} gives values beyond the float32 range`, { code: 'BAD_INPUT', hint: DAMAGED_HINT });
}

export function assertFinite(name: string, values: ArrayLike<number>): void {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) throw nonFiniteError(name, values[i], i);
}

/** For tensors passed through as they are (read in chunks, never whole). */
export function assertFiniteTensor(name: string, t: Tensor): void {
  const bad = firstNonFinite(t);
  if (bad) throw nonFiniteError(name, bad.value, bad.index);
}

/** running_var + eps above zero, added in float32 as PyTorch and onnxruntime add them. */
export function checkVariance(name: string, variance: ArrayLike<number>, eps: number): void {
  const eps32 = Math.fround(eps);
  for (let i = 0; i < variance.length; i++) {
    if (!(Math.fround(variance[i] + eps32) > 0)) {
      throw new UserError(
        `'${printable(name)}' holds ${variance[i]} at element ${i}, at or below -eps (${Number(eps.toPrecision(7))}): folding its BatchNorm would divide by the square root of a non-positive number`,
        { code: 'BAD_INPUT', hint: DAMAGED_HINT },
      );
    }
  }
}

/** A parameter as float32 (narrower and wider floats converted); finite unless `check` is false. */
export function floats(p: Param, check = true): Float32Array {
  if (!['float32', 'float16', 'bfloat16', 'float64'].includes(p.tensor.dtype)) {
    throw new UserError(`'${printable(p.name)}' is ${p.tensor.dtype}, not a floating-point tensor`, { code: 'BAD_INPUT' });
  }
  const v = toFloat32(p.tensor);
  if (check) assertFinite(p.name, v);
  return v;
}

/** One value per channel: a parameter of `channels` values, or one value repeated. */
function perChannel(p: Param | undefined, channels: number, fill: number, check: boolean): Float32Array {
  if (!p) return new Float32Array(channels).fill(fill);
  const v = floats(p, check);
  return v.length === channels ? v : new Float32Array(channels).fill(v[0]);
}

/** A BatchNorm as y = beta + (x − mean) · scale, checked: finite values, running_var + eps above zero. */
export function bnAffine(s: BnStep, channels: number, check = true): Affine {
  const variance = perChannel(s.variance, channels, 1, check);
  if (check) checkVariance(s.variance.name, variance, s.eps);
  return affineOfBn({ gamma: perChannel(s.gamma, channels, 1, check), beta: perChannel(s.beta, channels, 0, check), mean: perChannel(s.mean, channels, 0, check), variance, eps: s.eps });
}

/** x · scale + shift (or x / scale − shift) as y = beta + (x − mean) · scale. */
export function stepAffine(s: AffineStep, channels: number, check = true): Affine {
  const k = perChannel(s.scale, channels, 1, check);
  const t = perChannel(s.shift, channels, 0, check);
  const scale = new Float64Array(channels);
  const beta = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    scale[c] = s.invert?.scale ? 1 / k[c] : k[c];
    beta[c] = s.invert?.shift ? -t[c] : t[c];
  }
  return { scale, beta, mean: new Float64Array(channels) };
}

export function affineOfStep(s: BnStep | AffineStep, channels: number, check = true): Affine {
  return s.op === 'bn' ? bnAffine(s, channels, check) : stepAffine(s, channels, check);
}

/** One value per channel of a constant summand. */
export function constValues(p: Param, channels: number, check = true): Float32Array {
  return perChannel(p, channels, 0, check);
}
