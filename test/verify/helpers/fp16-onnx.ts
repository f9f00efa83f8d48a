// Float16 copies of float32 ONNX models, built with the project's own reader and writer but not with
// the converter's fp16 rule, so FP16-aware verification is tested apart from the code it checks. Two
// layouts, as `--dtype fp16` writes them: float16 graph inputs/outputs ('io'), or float32 I/O kept
// with Cast nodes around a float16 body ('cast').
import { GraphField } from '../../../src/formats/onnx/fields';
import { valueInfo } from '../../../src/formats/onnx/build';
import { readOnnx } from '../../../src/formats/onnx/read';
import { writeOnnx } from '../../../src/formats/onnx/write';
import { Message } from '../../../src/formats/protobuf/writer';
import { Graph, Value } from '../../../src/ir/graph';
import { floatToHalf, Tensor, toFloat32 } from '../../../src/tensor';

export type Fp16Layout = 'io' | 'cast';

const FLOAT = 1;
const FLOAT16 = 10;
/** Inputs that stay float32 whatever the data type (Resize's roi and scales). */
const FLOAT32_ONLY: Readonly<Record<string, readonly number[]>> = { Resize: [1, 2], Upsample: [1] };

export function halfTensor(t: Tensor): Tensor {
  const values = toFloat32(t);
  const half = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) half[i] = floatToHalf(values[i]);
  return { dtype: 'float16', shape: t.shape, data: { kind: 'memory', bytes: new Uint8Array(half.buffer) } };
}

/** Writes a float16 copy of the float32 model `source` to `target`. */
export function writeFp16Copy(source: string, target: string, layout: Fp16Layout): void {
  const model = readOnnx(source);
  try {
    const g = model.graph;
    for (const v of g.initializers()) {
      const init = v.initializer!;
      if (init.tensor.dtype !== 'float32' || v.uses.some((u) => FLOAT32_ONLY[u.node.opType]?.includes(u.index))) continue;
      v.initializer = { tensor: halfTensor(init.tensor), keep: init.keep };
    }
    const ioInfo = new Map(model.ioInfo);
    const retype = (v: Value, no: number, elemType: number) =>
      ioInfo.set(v.name, new Message().bytesField(no, valueInfo({ name: v.name, elemType, dims: dimsOf(v) })));
    // Weights that older exports also list as graph inputs are declared with their new type.
    g.inputs.filter((v) => v.initializer?.tensor.dtype === 'float16').forEach((v) => retype(v, GraphField.input, FLOAT16));
    if (layout === 'io') {
      g.inputs.filter((v) => !v.initializer).forEach((v) => retype(v, GraphField.input, FLOAT16));
      g.outputs.forEach((v) => retype(v, GraphField.output, FLOAT16));
    } else {
      g.inputs.filter((v) => !v.initializer).forEach((v, i) => castInput(g, v, i));
      g.outputs.forEach((v, i) => castOutput(g, v, i));
    }
    // value_info would still say float32 for the body's values.
    writeOnnx(target, { ...model, ioInfo, valueInfo: new Map() });
  } finally {
    model.close();
  }
}

function dimsOf(v: Value): (number | string)[] {
  return (v.type?.dims ?? []).map((d, i) => d ?? `d${i}`);
}

const castTo = (to: number) => [{ name: 'to', value: { type: 'int' as const, value: to } }];

/** The graph input keeps its name and float32; its readers now read a float16 copy. */
function castInput(g: Graph, input: Value, slot: number): void {
  const name = input.name;
  g.renameValue(input, g.freshName(`${name}_fp32`));
  const outer = g.ensureValue(name);
  outer.type = input.type;
  g._inputs[slot] = outer;
  const cast = g.insertNode({ opType: 'Cast', inputs: [outer], outputs: [g.freshName(`${name}_fp16`)], attributes: castTo(FLOAT16) }, { before: g.nodes[0] });
  g.replaceAllUses(input, cast.outputs[0]);
}

/** The graph output keeps its name and becomes float32, cast from the float16 body. */
function castOutput(g: Graph, output: Value, slot: number): void {
  const name = output.name;
  g.renameValue(output, g.freshName(`${name}_fp16`));
  const cast = g.insertNode({ opType: 'Cast', inputs: [output], outputs: [name], attributes: castTo(FLOAT) });
  cast.outputs[0].type = output.type;
  g._outputs[slot] = cast.outputs[0];
}
