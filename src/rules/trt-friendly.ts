// trt-friendly: shapes a deploy model for TensorRT's ONNX parser.
//
// - Static shapes: dynamic input dims become the given (or default) sizes; with `dynamicBatch` the
//   batch dim stays dynamic and the caller passes --minShapes/--optShapes/--maxShapes to trtexec.
//   Output dims named like a fixed input dim get its size; recorded intermediate shapes are dropped.
// - Opset 13–17: an older model whose ops did not change meaning up to opset 13 is relabelled 13;
//   anything else outside the range is refused with a way out.
// - Every weight an initializer: Constant nodes become initializers of the same name.
// - Ops the parser does not know are named in warnings (they need a TensorRT plugin).
// Needs: a deploy model. Guarantees: the above; the computation is unchanged.
import { UserError } from '../errors';
import { valueInfo } from '../formats/onnx/build';
import { GraphField, ModelField, OpsetField } from '../formats/onnx/fields';
import { OnnxModel } from '../formats/onnx/read';
import { Message } from '../formats/protobuf/writer';
import { Value } from '../ir/graph';

export const TRT_OPSETS = { min: 13, max: 17 } as const;

/** Ops whose definition did not change between opset 9 and 13 in a way these graphs could notice. */
const STABLE_TO_13 = new Set([
  'Conv', 'Relu', 'Add', 'Mul', 'Sub', 'Div', 'Sigmoid', 'Tanh', 'GlobalAveragePool', 'AveragePool', 'MaxPool', 'Flatten', 'Gemm',
  'MatMul', 'Concat', 'Reshape', 'Constant', 'Identity', 'Transpose', 'LeakyRelu', 'HardSigmoid', 'Softmax', 'Pad', 'Resize',
  'PRelu', 'Elu', 'Cast', 'Shape', 'Gather', 'Exp', 'Sqrt', 'Pow', 'Neg', 'Abs', 'ConvTranspose', 'Upsample', 'Dropout',
]);

/** Ops TensorRT's ONNX parser handles natively (a conservative list; others need a plugin). */
const TRT_OPS = new Set([
  ...STABLE_TO_13, 'BatchNormalization', 'Clip', 'HardSwish', 'Softplus', 'Selu', 'Split', 'Slice', 'Squeeze', 'Unsqueeze', 'ReduceMean',
  'ReduceMax', 'ReduceSum', 'Min', 'Max', 'Sum', 'Expand', 'Tile', 'Where', 'Equal', 'Greater', 'Less', 'Not', 'And', 'Or', 'ArgMax',
  'TopK', 'Log', 'Floor', 'Ceil', 'Round', 'Erf', 'InstanceNormalization', 'LayerNormalization', 'Einsum', 'GridSample', 'DepthToSpace',
  'SpaceToDepth', 'LRN', 'GlobalMaxPool', 'Mish', 'Softsign', 'ThresholdedRelu', 'ScatterND', 'GatherElements', 'NonZero', 'Range',
  'ConstantOfShape', 'QuantizeLinear', 'DequantizeLinear', 'CumSum', 'OneHot', 'NonMaxSuppression', 'Trilu', 'Sign', 'Reciprocal',
]);

export interface TrtOptions {
  /** Full input shapes by name, or under '*' for the first input. */
  readonly inputShapes?: Readonly<Record<string, readonly number[]>>;
  /** Keep the batch dim dynamic. */
  readonly dynamicBatch?: boolean;
  /** Largest batch for the dynamic profile. Default 32. */
  readonly maxBatch?: number;
}

export interface TrtReport {
  readonly opset: number;
  readonly relabelledFrom?: number;
  readonly constantsToInitializers: number;
  readonly inputs: readonly { readonly name: string; readonly shape: readonly number[] }[];
  /** For trtexec when the batch is dynamic: --minShapes, --optShapes, --maxShapes values. */
  readonly profile?: { readonly min: string; readonly opt: string; readonly max: string };
  readonly warnings: readonly string[];
}

export function makeTrtFriendly(model: OnnxModel, options: TrtOptions = {}): TrtReport {
  const g = model.graph;
  const warnings: string[] = [];
  const opset = model.opsets.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 0;
  let target = opset;
  if (opset > TRT_OPSETS.max) {
    throw new UserError(`the model uses opset ${opset}; TensorRT-ready output takes opset ${TRT_OPSETS.min}–${TRT_OPSETS.max}`, { code: 'UNSUPPORTED', hint: `re-export with opset_version=${TRT_OPSETS.max}` });
  }
  if (opset < TRT_OPSETS.min) {
    const changed = [...new Set(g.nodes.map((n) => n.opType))].filter((op) => !STABLE_TO_13.has(op));
    if (changed.length) throw new UserError(`the model uses opset ${opset} and ops whose meaning changed by opset 13 (${changed.join(', ')})`, { code: 'UNSUPPORTED', hint: 're-export with opset_version=13' });
    target = TRT_OPSETS.min;
  }
  const custom = model.opsets.filter((o) => o.domain !== '' && o.domain !== 'ai.onnx').map((o) => o.domain);
  if (custom.length) warnings.push(`custom op domains (${custom.join(', ')}) need TensorRT plugins`);
  for (const op of new Set(g.nodes.filter((n) => !TRT_OPS.has(n.opType)).map((n) => n.opType))) warnings.push(`${op} is not parsed natively by TensorRT; it needs a plugin`);

  let constants = 0;
  g.transaction(() => {
    for (const n of g.nodes.filter((x) => x.opType === 'Constant' && x.attributes.get('value')?.value.type === 'tensor')) {
      const a = n.attributes.get('value')!.value;
      if (a.type !== 'tensor') continue;
      const out = n.outputs[0];
      const name = out.name;
      const init = g.addInitializer(g.freshName(`${name}__init`), { tensor: a.value });
      g.replaceAllUses(out, init);
      g.removeNode(n);
      g.renameValue(init, name);
      constants++;
    }
  });

  const inputs = fixInputs(model, options, warnings);
  if (target !== opset) relabelOpset(model, target);
  model.valueInfo.clear();
  const batch = options.maxBatch ?? 32;
  const first = inputs[0];
  const profile = options.dynamicBatch && first
    ? {
        min: inputs.map((i) => `${i.name}:${[1, ...i.shape.slice(1)].join('x')}`).join(','),
        opt: inputs.map((i) => `${i.name}:${i.shape.join('x')}`).join(','),
        max: inputs.map((i) => `${i.name}:${[Math.max(batch, i.shape[0]), ...i.shape.slice(1)].join('x')}`).join(','),
      }
    : undefined;
  return { opset: target, relabelledFrom: target !== opset ? opset : undefined, constantsToInitializers: constants, inputs, profile, warnings };
}

function fixInputs(model: OnnxModel, options: TrtOptions, warnings: string[]): { name: string; shape: number[] }[] {
  const g = model.graph;
  const known = new Map<string, number>();
  const out: { name: string; shape: number[] }[] = [];
  g.inputs.filter((v) => !v.initializer).forEach((v, idx) => {
    const dims = v.type?.dims;
    if (!dims) throw new UserError(`input ${v.name} has no recorded shape`, { code: 'BAD_USAGE', hint: `give it with --input-shape ${v.name}:NxCxHxW` });
    const given = options.inputShapes?.[v.name] ?? (idx === 0 ? options.inputShapes?.['*'] : undefined);
    if (given && given.length !== dims.length) throw new UserError(`--input-shape for ${v.name} has ${given.length} dims, the model's input has ${dims.length}`, { code: 'BAD_USAGE' });
    const shape = dims.map((d, i) => {
      if (given) return given[i];
      if (typeof d === 'number' && d > 0) return d;
      if (i === 0) return 1;
      throw new UserError(`input ${v.name} has a dynamic dim ${i} (${d ?? '?'}); TensorRT-ready output needs it fixed`, { code: 'BAD_USAGE', hint: `give the full shape with --input-shape ${v.name}:${dims.map((x, j) => (typeof x === 'number' && x > 0 ? x : j === 0 ? 1 : 'N')).join('x')}` });
    });
    dims.forEach((d, i) => {
      if (typeof d === 'number' && d > 0 && d !== shape[i]) throw new UserError(`--input-shape ${shape.join('x')} does not fit ${v.name}'s fixed dim ${i} = ${d}`, { code: 'BAD_USAGE' });
      if (typeof d === 'string') known.set(d, shape[i]);
    });
    const written: (number | string)[] = shape.map((s, i) => (options.dynamicBatch && i === 0 ? (typeof dims[0] === 'string' ? dims[0] : 'batch') : s));
    if (options.dynamicBatch && i0Fixed(dims)) warnings.push(`${v.name} had a fixed batch of ${dims[0]}; it is made dynamic`);
    setInterface(model, v, written, GraphField.input);
    out.push({ name: v.name, shape });
  });
  for (const y of g.outputs) {
    const dims = y.type?.dims;
    if (!dims || y.type?.elemType === undefined) continue;
    const fixed = dims.map((d, i) => (options.dynamicBatch && i === 0 ? d : typeof d === 'string' && known.has(d) ? known.get(d)! : d));
    if (fixed.every((d) => d !== undefined)) setInterface(model, y, fixed as (number | string)[], GraphField.output);
  }
  return out;
}

const i0Fixed = (dims: readonly unknown[]) => typeof dims[0] === 'number' && (dims[0] as number) > 0;

function setInterface(model: OnnxModel, v: Value, dims: (number | string)[], field: number): void {
  const elemType = v.type?.elemType ?? 1;
  model.ioInfo.set(v.name, new Message().bytesField(field, valueInfo({ name: v.name, elemType, dims })));
  v.type = { elemType, dims };
}

function relabelOpset(model: OnnxModel, version: number): void {
  const fields = model.modelFields;
  const at = fields.findIndex((f) => f.no === ModelField.opsetImport);
  const entry = new Message().bytesField(ModelField.opsetImport, new Message().stringField(OpsetField.domain, '').varintField(OpsetField.version, version));
  // Drop every default-domain opset import and put the new one where the first was.
  const keep = fields.filter((f, i) => f.no !== ModelField.opsetImport || (i !== at && !isDefaultDomain(model, i)));
  keep.splice(Math.max(0, Math.min(at, keep.length)), 0, { no: ModelField.opsetImport, part: entry });
  fields.splice(0, fields.length, ...keep);
  if (model.irVersion < 7) {
    const ir = fields.findIndex((f) => f.no === ModelField.irVersion);
    fields[ir] = { no: ModelField.irVersion, part: new Message().varintField(ModelField.irVersion, 7) };
  }
}

function isDefaultDomain(model: OnnxModel, fieldIndex: number): boolean {
  // opsets[] follows the order of opset_import fields.
  const order = model.modelFields.slice(0, fieldIndex + 1).filter((f) => f.no === ModelField.opsetImport).length - 1;
  const o = model.opsets[order];
  return !!o && (o.domain === '' || o.domain === 'ai.onnx');
}
