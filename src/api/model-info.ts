// Small facts about an ONNX model without converting it.
import { UserError } from '../errors';
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

/** A graph built from a checkpoint has one input: the one shape given, named or not, as N x C x H x W. */
export function checkpointInputShape(shapes: Readonly<Record<string, readonly number[]>> | undefined): readonly number[] | undefined {
  if (!shapes) return undefined;
  const all = Object.values(shapes);
  if (all.length > 1) throw new UserError('a model built from a checkpoint has one input; give one --input-shape', { code: 'BAD_USAGE' });
  if (all[0].length !== 4) throw new UserError(`--input-shape for a checkpoint is N x C x H x W, not ${all[0].join('x')}`, { code: 'BAD_USAGE' });
  return all[0];
}
