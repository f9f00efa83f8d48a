// How many float weights an ONNX model stores as float16 and as float32, from the initializers' headers
// only (the weight bytes are skipped). An FP16 deploy model that keeps float32 I/O behind Cast nodes
// shows its precision here and nowhere in its interface.
import { dtypeFromOnnx, numel } from '../dtype';
import { DecodeError, FormatError } from '../errors';
import { FileSource } from '../formats/bytes';
import { GraphField, ModelField, TensorField } from '../formats/onnx/fields';
import { last, ProtoReader, toInt64 } from '../formats/protobuf/reader';

export interface WeightElements {
  readonly float16: number;
  readonly float32: number;
}

export function weightElements(file: string): WeightElements {
  const source = new FileSource(file);
  try {
    const r = new ProtoReader(source);
    const graph = last(r.fields(0, source.length), ModelField.graph);
    const counts = { float16: 0, float32: 0 };
    if (!graph) return counts;
    for (const f of r.fields(graph.valueStart, graph.end)) {
      if (f.no !== GraphField.initializer) continue;
      const t = r.fields(f.valueStart, f.end);
      const type = last(t, TensorField.dataType);
      const dtype = type ? dtypeFromOnnx(toInt64(type.value))?.dtype : undefined;
      if (dtype === 'float16' || dtype === 'float32') counts[dtype] += numel(r.int64s(t, TensorField.dims));
    }
    return counts;
  } catch (e) {
    if (e instanceof DecodeError) throw new FormatError(file, 'an ONNX model', e.message, { offset: e.offset });
    throw e;
  } finally {
    source.close();
  }
}
