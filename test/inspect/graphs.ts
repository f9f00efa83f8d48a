// Small ONNX models built in the test, written to a temporary folder: for shape and MAC checks that
// need inputs the fixtures do not have (dynamic spatial dims, random conv and pool settings).
import * as path from 'path';
import { GraphBuilder, int, ints } from '../../src/checkpoint/onnx-graph';
import { newOnnxModel } from '../../src/formats/onnx/build';
import { writeOnnx } from '../../src/formats/onnx/write';
import { Value } from '../../src/ir/graph';
import { tensorFromArray } from '../../src/tensor';
import { Rng } from '../helpers/random';

export { int, ints };

export interface Built {
  readonly g: GraphBuilder;
  readonly x: Value;
  /** Adds a float32 initializer of this shape, filled from the seeded generator. */
  weight(name: string, shape: readonly number[]): Value;
  /** Writes the model with `x` of the given dims; outputs are declared with their rank and named dims only. */
  write(dir: string, file: string, inputDims: readonly (number | string)[], outputs: readonly (readonly [Value, number])[], opset?: number): string;
}

export function builder(r: Rng): Built {
  const g = new GraphBuilder(new Map());
  const x = g.input('x');
  return {
    g,
    x,
    weight: (name, shape) => g.constant(name, tensorFromArray(shape, r.floats(shape.reduce((a, b) => a * b, 1)))),
    write(dir, file, inputDims, outputs, opset = 13) {
      outputs.forEach(([o]) => g.graph.addGraphOutput(o));
      const model = newOnnxModel(g.graph, {
        graphName: 'test',
        opset,
        inputs: [{ name: 'x', elemType: 1, dims: inputDims }],
        outputs: outputs.map(([o, rank]) => ({ name: o.name, elemType: 1, dims: Array.from({ length: rank }, (_, i) => `${o.name}_${i}`) })),
      });
      const target = path.join(dir, file);
      writeOnnx(target, model);
      return target;
    },
  };
}
