// fp16: rewrites a deploy model to float16 weights and activations.
//
// Every float32 initializer and Constant becomes float16 (round to nearest even), Cast(to=FLOAT) becomes
// Cast(to=FLOAT16), and float32 graph inputs/outputs become float16 — or, with `keepIoTypes`, stay float32
// with a Cast at each boundary. Inputs that ONNX types as float32 whatever the data type (Resize roi and
// scales, Upsample scales) are left alone. A weight whose magnitude passes 65504 (the largest float16)
// is refused by name: it would become Inf, and clamping would change the model silently.
// Needs: a deploy model (no BatchNormalization left). Guarantees: no float32 tensor inside the graph.
import { UserError } from '../errors';
import { valueInfo } from '../formats/onnx/build';
import { OnnxModel } from '../formats/onnx/read';
import { Attribute } from '../ir/attribute';
import { Graph, Node, Value } from '../ir/graph';
import { FLOAT16_MAX, Tensor, floatToHalf, toFloat32 } from '../tensor';
import { GraphField } from '../formats/onnx/fields';
import { Message } from '../formats/protobuf/writer';

const FLOAT = 1;
const FLOAT16 = 10;

/** Input slots that stay float32 whatever the model's precision. */
const FLOAT32_SLOTS: Readonly<Record<string, readonly number[]>> = { Resize: [1, 2], Upsample: [1] };

/** Ops kept in float32 between Casts: onnxruntime's CPU kernels for them take no float16. */
const FLOAT32_OPS = new Set(['Resize', 'Upsample']);

/** Ops that carry float32 in attributes the pass cannot retype. */
const UNSUPPORTED = new Set(['ConstantOfShape', 'RandomNormal', 'RandomUniform', 'RandomNormalLike', 'RandomUniformLike', 'EyeLike', 'Range']);

export interface Fp16Options {
  /** Keep float32 graph inputs and outputs, casting at the boundary. */
  readonly keepIoTypes?: boolean;
}

export interface Fp16Report {
  readonly initializers: number;
  readonly constants: number;
  readonly casts: number;
  readonly io: 'float16' | 'float32 with Casts';
}

export function toFloat16(model: OnnxModel, options: Fp16Options = {}): Fp16Report {
  const g = model.graph;
  const odd = g.nodes.find((n) => UNSUPPORTED.has(n.opType) || n.opType === 'BatchNormalization');
  if (odd) throw new UserError(`--dtype fp16 cannot convert ${odd.label}`, { code: 'UNSUPPORTED', hint: odd.opType === 'BatchNormalization' ? 'a BatchNormalization was left unmerged; see --verbose' : 'convert to float32 instead' });
  const island = float32Island(g);
  const keep32 = (v: Value) => island.has(v);

  const overflow: string[] = [];
  const plans: { v: Value; t: Tensor }[] = [];
  for (const v of g.initializers()) {
    const t = v.initializer!.tensor;
    if (t.dtype !== 'float32' || keep32(v)) continue;
    if (exceedsHalf(toFloat32(t))) overflow.push(v.name);
    plans.push({ v, t });
  }
  const constants = g.nodes.filter((n) => n.opType === 'Constant' && n.attributes.get('value')?.value.type === 'tensor');
  const constPlans = constants.flatMap((n) => {
    const a = n.attributes.get('value')!.value;
    const t = a.type === 'tensor' ? a.value : undefined;
    if (!t || t.dtype !== 'float32' || keep32(n.outputs[0])) return [];
    if (exceedsHalf(toFloat32(t))) overflow.push(`${n.outputs[0].name} (Constant ${n.name})`);
    return [{ n, t }];
  });
  if (overflow.length) {
    throw new UserError(`${overflow.length} weight${overflow.length > 1 ? 's' : ''} exceed the float16 range (±${FLOAT16_MAX}): ${overflow.slice(0, 10).join(', ')}${overflow.length > 10 ? ', …' : ''}`, {
      hint: 'keep this model in float32; values would become Inf, and clamping them would change the model',
    });
  }
  let casts = 0;
  g.transaction(() => {
    const graphInputs = new Set(g.inputs);
    for (const { v, t } of plans) {
      g.replaceInitializer(v, { tensor: halfTensor(t) });
      // Older exports also list every weight among the graph inputs: that declaration must say float16 too.
      if (graphInputs.has(v)) setIoType(model, v, GraphField.input);
    }
    for (const { n, t } of constPlans) replaceNode(g, n, [{ name: 'value', value: { type: 'tensor', value: halfTensor(t) } }]);
    for (const n of [...g.nodes]) {
      const to = n.attributes.get('to')?.value;
      if (n.opType === 'Cast' && to?.type === 'int' && to.value === FLOAT && !keep32(n.outputs[0])) {
        replaceNode(g, n, [{ name: 'to', value: { type: 'int', value: FLOAT16 } }]);
        casts++;
      }
    }
    for (const n of g.nodes.filter((x) => FLOAT32_OPS.has(x.opType))) {
      wrapInFloat32(g, n);
      casts += 2;
    }
    retypeInterface(model, options.keepIoTypes === true);
  });
  // Types recorded for intermediate values are float32 ones; onnxruntime infers the rest.
  model.valueInfo.clear();
  return { initializers: plans.length, constants: constPlans.length, casts, io: options.keepIoTypes ? 'float32 with Casts' : 'float16' };
}

/** Values that feed float32-only slots, followed back through the nodes computing them (up to a Cast). */
function float32Island(g: Graph): Set<Value> {
  const keep = new Set<Value>();
  const stack: Value[] = [];
  for (const n of g.nodes) for (const slot of FLOAT32_SLOTS[n.opType] ?? []) if (n.inputs[slot]) stack.push(n.inputs[slot]!);
  while (stack.length) {
    const v = stack.pop()!;
    if (keep.has(v)) continue;
    keep.add(v);
    const p = v.producer;
    if (p && p.opType !== 'Cast') for (const x of p.inputs) if (x) stack.push(x);
  }
  return keep;
}

function exceedsHalf(a: Float32Array): boolean {
  for (let i = 0; i < a.length; i++) if (Math.abs(a[i]) > FLOAT16_MAX) return true;
  return false;
}

function halfTensor(t: Tensor): Tensor {
  return {
    dtype: 'float16',
    shape: t.shape,
    data: {
      kind: 'lazy',
      compute: () => {
        const src = toFloat32(t);
        const out = new Uint16Array(src.length);
        for (let i = 0; i < src.length; i++) out[i] = floatToHalf(src[i]);
        return new Uint8Array(out.buffer);
      },
    },
  };
}

/** A copy of `n` with some attributes replaced, in its place. */
function replaceNode(g: Graph, n: Node, attrs: readonly Attribute[]): Node {
  const names = new Set(attrs.map((a) => a.name));
  const attributes = [...[...n.attributes.values()].filter((a) => !names.has(a.name)), ...attrs];
  // Outputs left out ('') stay left out.
  const outs = n.outputs.map((o) => (o.absent ? '' : o.name));
  const fresh = g.insertNode({ opType: n.opType, domain: n.domain, name: n.name, inputs: n.inputs, outputs: outs.map((o) => (o ? g.freshName(`${o}__fp16`) : '')), attributes }, { before: n });
  n.outputs.forEach((o, i) => {
    if (!o.absent) g.replaceAllUses(o, fresh.outputs[i]);
  });
  g.removeNode(n);
  fresh.outputs.forEach((o, i) => outs[i] && g.renameValue(o, outs[i]));
  return fresh;
}

/** Data input 0 cast up to float32 and every output cast back down to float16. */
function wrapInFloat32(g: Graph, n: Node): void {
  const x = n.input(0);
  const up = g.insertNode({ opType: 'Cast', name: `${n.name}/CastToFloat`, inputs: [x], outputs: [g.freshName(`${x.name}_fp32`)], attributes: [{ name: 'to', value: { type: 'int', value: FLOAT } }] }, { before: n });
  g.setInput(n, 0, up.outputs[0]);
  for (const y of n.outputs) {
    if (y.absent) continue;
    const name = y.name;
    const readers = [...y.uses];
    const wasOutput = g.isGraphOutput(y);
    g.renameValue(y, g.freshName(`${name}_fp32`));
    const after = g.nextNode(n);
    const down = g.insertNode({ opType: 'Cast', name: `${n.name}/CastToFloat16`, inputs: [y], outputs: [name], attributes: [{ name: 'to', value: { type: 'int', value: FLOAT16 } }] }, after ? { before: after } : {});
    for (const u of readers) g.setInput(u.node, u.index, down.outputs[0]);
    if (wasOutput) g.replaceGraphOutput(y, down.outputs[0]);
  }
}

function retypeInterface(model: OnnxModel, keepIoTypes: boolean): void {
  const g = model.graph;
  const isFloat = (v: Value) => v.type?.elemType === FLOAT;
  for (const x of g.inputs.filter((v) => !v.initializer && isFloat(v))) {
    if (keepIoTypes) {
      const readers = [...x.uses];
      const cast = g.insertNode({ opType: 'Cast', name: `${x.name}/CastToFloat16`, inputs: [x], outputs: [g.freshName(`${x.name}_fp16`)], attributes: [{ name: 'to', value: { type: 'int', value: FLOAT16 } }] }, { before: g.nodes[0] });
      for (const u of readers) g.setInput(u.node, u.index, cast.outputs[0]);
    } else setIoType(model, x, GraphField.input);
  }
  for (const y of g.outputs.filter(isFloat)) {
    if (keepIoTypes) {
      const name = y.name;
      g.renameValue(y, g.freshName(`${name}_fp16`));
      const cast = g.insertNode({ opType: 'Cast', name: `${name}/CastToFloat`, inputs: [y], outputs: [name], attributes: [{ name: 'to', value: { type: 'int', value: FLOAT } }] });
      cast.outputs[0].type = y.type;
      g.replaceGraphOutput(y, cast.outputs[0]);
    } else setIoType(model, y, GraphField.output);
  }
}

function setIoType(model: OnnxModel, v: Value, field: number): void {
  const dims = (v.type?.dims ?? []).map((d, i) => d ?? `unk_${i}`);
  model.ioInfo.set(v.name, new Message().bytesField(field, valueInfo({ name: v.name, elemType: FLOAT16, dims })));
  v.type = { elemType: FLOAT16, dims: v.type?.dims };
}
