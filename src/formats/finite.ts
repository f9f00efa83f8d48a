// Finding NaN or ±Infinity in a floating-point tensor kept as a file range or in memory, read in chunks
// through one reused buffer. The rules check what they merge as they merge it; this covers the tensors
// a conversion passes through untouched (a classifier head, say), whose bad values would otherwise
// reach the deploy model and pass a check that compares two models sharing them.
import { DType, dtypeInfo } from '../dtype';
import { Tensor, halfToFloat, tensorBytes } from '../tensor';
import { readRangeInto } from './bytes';

const CHUNK = 1 << 20;
let scratch: Uint8Array | undefined;

export interface NonFinite {
  /** Element index in the tensor. */
  readonly index: number;
  readonly value: number;
}

/** The first NaN or ±Infinity of a floating-point tensor (range or memory); undefined when there is none, or for other tensors. */
export function firstNonFinite(t: Tensor): NonFinite | undefined {
  const { isFloat, size } = dtypeInfo(t.dtype);
  if (!isFloat || t.data.kind === 'lazy') return undefined;
  if (t.data.kind === 'memory') return scan(tensorBytes(t), t.dtype, 0);
  const r = t.data.range;
  scratch ??= new Uint8Array(CHUNK);
  for (let at = 0; at < r.length; at += CHUNK) {
    const b = scratch.subarray(0, Math.min(CHUNK, r.length - at));
    readRangeInto(r, at, b);
    const bad = scan(b, t.dtype, at / size);
    if (bad) return bad;
  }
  return undefined;
}

function scan(b: Uint8Array, dtype: DType, first: number): NonFinite | undefined {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  switch (dtype) {
    case 'float32': {
      const n = b.length >> 2;
      const v = b.byteOffset % 4 === 0 ? new Float32Array(b.buffer, b.byteOffset, n) : Float32Array.from({ length: n }, (_, i) => dv.getFloat32(4 * i, true));
      // One sum says whether all are finite (v - v is NaN exactly for NaN and ±Infinity).
      let bad = 0;
      for (let i = 0; i < n; i++) bad += v[i] - v[i];
      if (bad === 0) return undefined;
      for (let i = 0; i < n; i++) if (!Number.isFinite(v[i])) return { index: first + i, value: v[i] };
      return undefined;
    }
    case 'float64':
      for (let i = 0; i < b.length >> 3; i++) {
        const x = dv.getFloat64(8 * i, true);
        if (!Number.isFinite(x)) return { index: first + i, value: x };
      }
      return undefined;
    default: {
      // Half and bfloat16: all exponent bits set.
      const mask = dtype === 'float16' ? 0x7c00 : 0x7f80;
      for (let i = 0; i < b.length >> 1; i++) {
        const h = dv.getUint16(2 * i, true);
        if ((h & mask) === mask) return { index: first + i, value: dtype === 'float16' ? halfToFloat(h) : h & 0x7f ? NaN : h & 0x8000 ? -Infinity : Infinity };
      }
      return undefined;
    }
  }
}
