// What the check needs to know of a model before any session opens, read with the project's own ONNX
// reader (structure only, no weight bytes): its inputs and outputs as onnxruntime describes them, and how
// many float weights it stores as float16 and as float32. Both sessions can then run one after the other.
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { dtypeFromOnnx, numel } from '../dtype';
import { readOnnx } from '../formats/onnx/read';

export interface ModelFacts {
  readonly inputs: readonly InferenceSession.ValueMetadata[];
  readonly outputs: readonly string[];
  /** The outputs' element types ('float32', 'float16', ...), where the file records them. */
  readonly outputTypes: readonly string[];
  readonly weights: { readonly float16: number; readonly float32: number };
}

export function modelFacts(file: string): ModelFacts {
  const m = readOnnx(file);
  try {
    const g = m.graph;
    const inputs = g.inputs
      .filter((v) => !v.initializer)
      .map((v): InferenceSession.ValueMetadata => {
        const type = v.type?.elemType === undefined ? undefined : dtypeFromOnnx(v.type.elemType)?.dtype;
        // Unknown dims read as unnamed dynamic ones ('').
        const shape = (v.type?.dims ?? []).map((d) => (d === undefined ? '' : d));
        return type ? { name: v.name, isTensor: true, type: type as Tensor.Type, shape } : { name: v.name, isTensor: false };
      });
    const weights = { float16: 0, float32: 0 };
    for (const v of g.initializers()) {
      const t = v.initializer!.tensor;
      if (t.dtype === 'float16' || t.dtype === 'float32') weights[t.dtype] += numel(t.shape);
    }
    const outputTypes = g.outputs.flatMap((v) => (v.type?.elemType === undefined ? [] : [dtypeFromOnnx(v.type.elemType)?.dtype ?? 'unknown']));
    return { inputs, outputs: g.outputs.map((v) => v.name), outputTypes, weights };
  } finally {
    m.close();
  }
}
