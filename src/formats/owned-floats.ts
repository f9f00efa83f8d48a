// float32 values of a tensor in an array nobody else holds, read straight from its file, so that a merge
// may write its result over them instead of allocating a second kernel-sized array.
import { Tensor, toFloat32 } from '../tensor';

/** The values in an array of the caller's own, or undefined when getting one would take an extra copy. */
export function ownedFloat32(t: Tensor): Float32Array | undefined {
  // Widening (float16, bfloat16, float64) makes a new array anyway.
  if (t.dtype !== 'float32') return t.dtype === 'float16' || t.dtype === 'bfloat16' || t.dtype === 'float64' ? toFloat32(t) : undefined;
  if (t.data.kind !== 'range') return undefined;
  const r = t.data.range;
  const b = r.source.readCopy?.(r.offset, r.length);
  if (!b) return undefined;
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
}
