// Seeded random feeds. One generator stream per run: sample by sample, inputs in model order, so a
// (seed, sample) pair always produces the same tensors. Values are drawn in the reference's dtype; a
// candidate that takes another float type gets the same values converted (float32 -> float16 rounds
// to nearest even), so both models see one draw.
import type { Tensor } from 'onnxruntime-node';
import { numel } from '../dtype';
import { UserError } from '../errors';
import { halfToFloat, floatToHalf } from '../tensor';
import { Random } from './random';
import { float16Tensor, onnxruntime } from './runtime';
import type { InputSpec } from './shapes';

export type InputDistribution = 'normal' | 'uniform';

export function makeFeeds(inputs: readonly InputSpec[], rng: Random, distribution: InputDistribution): Record<string, Tensor> {
  const draw = distribution === 'normal' ? rng.normal : () => 2 * rng.uniform() - 1;
  const ort = onnxruntime();
  const feeds: Record<string, Tensor> = {};
  for (const input of inputs) {
    const n = numel(input.shape);
    const dims = [...input.shape];
    switch (input.dtype) {
      case 'float32': {
        const data = new Float32Array(n);
        for (let i = 0; i < n; i++) data[i] = draw();
        feeds[input.name] = new ort.Tensor('float32', data, dims);
        break;
      }
      case 'float64': {
        const data = new Float64Array(n);
        for (let i = 0; i < n; i++) data[i] = draw();
        feeds[input.name] = new ort.Tensor('float64', data, dims);
        break;
      }
      case 'float16': {
        const data = new Uint16Array(n);
        for (let i = 0; i < n; i++) data[i] = floatToHalf(draw());
        feeds[input.name] = float16Tensor(data, dims);
        break;
      }
      default:
        throw new UserError(`input "${input.name}" is ${input.dtype}; verification feeds random floats and has no sensible values for it`, {
          code: 'UNSUPPORTED',
        });
    }
  }
  return feeds;
}

/** The reference's feeds as the candidate takes them: the same tensors unless an input's dtype differs. */
export function candidateFeeds(inputs: readonly InputSpec[], feeds: Readonly<Record<string, Tensor>>): Record<string, Tensor> {
  const out: Record<string, Tensor> = { ...feeds };
  for (const input of inputs) {
    if (input.candidateDtype !== undefined && input.candidateDtype !== input.dtype) {
      out[input.name] = convertFeed(feeds[input.name], input.candidateDtype);
    }
  }
  return out;
}

/** A float32 tensor as float16 (rounded to nearest even), or a float16 one as float32 (exact). */
export function convertFeed(t: Tensor, dtype: string): Tensor {
  const dims = [...t.dims];
  const ort = onnxruntime();
  if (t.type === 'float32' && dtype === 'float16') {
    const src = t.data as Float32Array;
    const data = new Uint16Array(src.length);
    for (let i = 0; i < src.length; i++) data[i] = floatToHalf(src[i]);
    return float16Tensor(data, dims);
  }
  if (t.type === 'float16' && dtype === 'float32') {
    return new ort.Tensor('float32', Float32Array.from(t.data as Uint16Array, halfToFloat), dims);
  }
  throw new TypeError(`cannot convert a ${t.type} feed to ${dtype}`);
}

/** float → float16 bits, round to nearest even (one implementation, in tensor.ts). */
export { floatToHalf };
