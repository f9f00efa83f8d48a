// A tensor is a dtype, a shape and bytes that stay a file range until someone asks for them.
import { DType, dtypeInfo, numel } from './dtype';
import { ByteRange, readRange } from './formats/bytes';
import { simdSharedBuffer } from './math/simd-scale';

export type TensorBytes =
  | { readonly kind: 'range'; readonly range: ByteRange }
  | { readonly kind: 'memory'; readonly bytes: Uint8Array }
  /** Computed when written (merged kernels), so a model's new weights never all sit in memory. */
  | {
      readonly kind: 'lazy';
      readonly compute: () => Uint8Array;
      /** The same bytes in order, a slice at a time, written in place into what a writer hands out: writers hold one slice, not the tensor. */
      readonly stream?: (put: SlicePut) => void;
    };

export interface Tensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Little-endian, C-contiguous element bytes. */
  readonly data: TensorBytes;
}

export function tensorFromRange(dtype: DType, shape: readonly number[], range: ByteRange): Tensor {
  return { dtype, shape, data: { kind: 'range', range } };
}

export function tensorFromArray(shape: readonly number[], values: Float32Array): Tensor {
  if (values.length !== numel(shape)) throw new Error(`tensor of shape [${shape}] given ${values.length} values`);
  return { dtype: 'float32', shape, data: { kind: 'memory', bytes: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) } };
}

export function byteLength(t: Tensor): number {
  return numel(t.shape) * dtypeInfo(t.dtype).size;
}

export function tensorBytes(t: Tensor): Uint8Array {
  switch (t.data.kind) {
    case 'memory':
      return t.data.bytes;
    case 'range':
      return readRange(t.data.range);
    case 'lazy': {
      const b = t.data.compute();
      if (b.length !== byteLength(t)) throw new Error(`computed ${b.length} bytes for a tensor of ${byteLength(t)}`);
      return b;
    }
  }
}

/**
 * How a streaming tensor hands over a slice: the writer gives `fill` a 4-byte-aligned target of `n` bytes
 * (its own output buffer where it can), and takes the bytes once `fill` returns.
 */
export type SlicePut = (n: number, fill: (target: Uint8Array) => void) => void;

/** Writes a streaming lazy tensor's bytes through `put`, slice by slice. */
export function streamLazyInto(t: Tensor, put: SlicePut): void {
  if (t.data.kind !== 'lazy' || !t.data.stream) throw new Error('streamLazyInto needs a tensor that streams');
  let n = 0;
  t.data.stream((size, fill) => {
    n += size;
    put(size, fill);
  });
  if (n !== byteLength(t)) throw new Error(`streamed ${n} bytes for a tensor of ${byteLength(t)}`);
}

/** Gives a lazy tensor's bytes to `emit` in order (each slice valid only during its call). */
export function streamLazyBytes(t: Tensor, emit: (slice: Uint8Array) => void): void {
  if (t.data.kind !== 'lazy' || !t.data.stream) {
    emit(tensorBytes(t));
    return;
  }
  let scratch: Uint8Array = new Uint8Array(0);
  streamLazyInto(t, (n, fill) => {
    // WebAssembly memory, where merges run their SIMD loops.
    if (scratch.length < n) scratch = new Uint8Array(simdSharedBuffer(n), 0, n);
    const b = scratch.subarray(0, n);
    fill(b);
    emit(b);
  });
}

/** Values as float32 (float64 narrows). A view when the bytes are float32 and aligned, else a copy. */
export function toFloat32(t: Tensor): Float32Array {
  const b = tensorBytes(t);
  const n = numel(t.shape);
  switch (t.dtype) {
    case 'float32':
      return b.byteOffset % 4 === 0
        ? new Float32Array(b.buffer, b.byteOffset, n)
        : new Float32Array(new Uint8Array(b).buffer, 0, n);
    case 'float16': {
      const out = new Float32Array(n);
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      for (let i = 0; i < n; i++) out[i] = halfToFloat(dv.getUint16(2 * i, true));
      return out;
    }
    case 'bfloat16': {
      const out = new Float32Array(n);
      const u = new Uint32Array(out.buffer);
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      for (let i = 0; i < n; i++) u[i] = dv.getUint16(2 * i, true) << 16;
      return out;
    }
    case 'float64': {
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      return Float32Array.from({ length: n }, (_, i) => dv.getFloat64(8 * i, true));
    }
    default:
      throw new TypeError(`tensor of dtype ${t.dtype} has no float values`);
  }
}

export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

// One scratch word for reading float32 bits: floatToHalf runs once per element.
const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

/** float → IEEE half bits, rounding to nearest even; overflow gives ±Infinity (callers check first). */
export function floatToHalf(value: number): number {
  scratch[0] = value;
  const x = scratchBits[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rest > mid || (rest === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
  return sign | half;
}

export const FLOAT16_MAX = 65504;
