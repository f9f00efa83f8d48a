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

/** Input shapes keyed by name; an unnamed one ('*') applies to the model's first input. */
export function resolveInputShapes(shapes: Readonly<Record<string, readonly number[]>> | undefined, model: string): Record<string, readonly number[]> | undefined {
  if (!shapes || !('*' in shapes)) return shapes;
  const { '*': dims, ...named } = shapes;
  const first = modelInputNames(model)[0];
  return first === undefined ? named : { ...named, [first]: dims };
}
