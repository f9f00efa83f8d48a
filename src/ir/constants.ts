// Constants in a graph: the tensor behind a value (an initializer or Constant node, possibly behind
// Identity nodes), and the values of the small tensors that decide shapes (Reshape targets, Resize
// scales, Pad amounts, axes), including Concat/Cast/Unsqueeze of such constants, as exporters write
// them. Larger tensors are never read by constantNumbers.
import { Value } from './graph';
import { Tensor, tensorBytes, toFloat32 } from '../tensor';
import { numel } from '../dtype';

/** The constant behind a value: an initializer or Constant node, possibly behind Identity nodes. */
export function constantTensor(v: Value): Tensor | undefined {
  for (let hops = 0; hops < 16; hops++) {
    if (v.initializer) return v.initializer.tensor;
    const p = v.producer;
    if (!p || p.domain !== '') return undefined;
    if (p.opType === 'Constant' && p.inputs.length === 0) {
      const a = p.attributes.get('value')?.value;
      return a?.type === 'tensor' ? a.value : undefined;
    }
    // Exporters de-duplicate equal initializers and feed the copies through Identity nodes.
    if (p.opType !== 'Identity' || !p.inputs[0]) return undefined;
    v = p.inputs[0];
  }
  return undefined;
}

/** Shape-deciding constants hold a handful of numbers; anything larger is not one. */
const MAX_ELEMENTS = 64;

/** The numbers in a small constant 0-D or 1-D tensor, or undefined when `v` is not one. */
export function constantNumbers(v: Value | null | undefined, depth = 0): number[] | undefined {
  if (!v || depth > 8) return undefined;
  const t = constantTensor(v);
  if (t) return smallValues(t);
  const p = v.producer;
  if (!p || p.domain !== '') return undefined;
  const axis = p.attributes.get('axis')?.value;
  if (p.opType === 'Concat' && axis?.type === 'int' && axis.value === 0) {
    const parts = p.inputs.map((x) => constantNumbers(x, depth + 1));
    return parts.every((x): x is number[] => !!x) ? parts.flat() : undefined;
  }
  if (p.opType === 'Cast' || p.opType === 'Identity' || (p.opType === 'Unsqueeze' && p.inputs.length <= 2)) return constantNumbers(p.inputs[0], depth + 1);
  return undefined;
}

function smallValues(t: Tensor): number[] | undefined {
  if (t.shape.length > 1 || numel(t.shape) > MAX_ELEMENTS) return undefined;
  const n = numel(t.shape);
  switch (t.dtype) {
    case 'int64': {
      const b = tensorBytes(t);
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      return Array.from({ length: n }, (_, i) => Number(dv.getBigInt64(8 * i, true)));
    }
    case 'int32': {
      const b = tensorBytes(t);
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      return Array.from({ length: n }, (_, i) => dv.getInt32(4 * i, true));
    }
    case 'float32':
    case 'float16':
    case 'bfloat16':
    case 'float64':
      return Array.from(toFloat32(t));
    default:
      return undefined;
  }
}
