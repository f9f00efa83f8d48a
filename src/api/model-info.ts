// Small facts about an ONNX model without converting it.
import { readOnnx } from '../formats/onnx/read';

/** Names of the graph inputs that are not initializers. */
export function modelInputNames(file: string): string[] {
  const m = readOnnx(file);
  try {
    return m.graph.inputs.filter((v) => !v.initializer).map((v) => v.name);
  } finally {
    m.close();
  }
}
