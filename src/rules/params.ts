// Reading ONNX nodes as steps of the block model. A parameter must be a constant (an initializer, a
// Constant node, or a value computed from constants only, e.g. `weight + identity`) and float32; a conv
// weight must also be read by no node outside the match (a tied weight stays tied). Attributes of the
// wrong ONNX type are the file's fault (exit 2).
import { UserError } from '../errors';
import { printable } from '../formats/printable';
import { AttributeValue, floatAttr, intAttr, intsAttr, stringAttr } from '../ir/attribute';
import { constantTensor } from '../ir/constants';
import { ConstantFolder } from '../ir/evaluate';
import { Graph, Node, Value } from '../ir/graph';
import { BnStep, ConvStep, Param } from '../reparam/block';
import { Check, accept, refuse } from '../reparam/check';
import { assertFiniteTensor } from '../reparam/values';

export { constantTensor };

/** A constant parameter and the value it was read from. */
export interface OnnxParam extends Param {
  readonly value: Value;
}

/** The constant behind `v` (folded when computed from constants), float32. */
export function constParam(v: Value | null | undefined, what: string, folder: ConstantFolder): Check<OnnxParam> {
  if (!v) return refuse(`${what} is missing`);
  const t = folder.tensor(v);
  if (!t) return refuse(`${what} ${v.name} is not a constant (it is computed by ${v.producer?.label ?? 'a graph input'})`);
  if (t.dtype !== 'float32') return refuse(`${what} ${v.name} is ${t.dtype}; only float32 parameters are merged`);
  return accept({ name: v.name, tensor: t, value: v });
}

/**
 * A conv weight read only inside the match: a weight shared with a node outside is a tied weight, and
 * merging would duplicate it. An Identity alias of an initializer may be one of several readers of it.
 */
export function unshared(p: OnnxParam, what: string, inside: ReadonlySet<Node>): string | undefined {
  const v = p.value;
  const outside = v.uses.find((u) => !inside.has(u.node));
  if (outside) return `${what} ${v.name} is shared with ${outside.node.label} outside the match`;
  const q = v.producer;
  if (q && !inside.has(q) && q.opType === 'Identity') return `${what} ${v.name} is an alias (${q.label}) of a weight that may be shared`;
  return undefined;
}

/** The attributes a rule reads, each of the type ONNX defines for it: another type is a malformed model. */
export function checkAttributeTypes(node: Node, types: Readonly<Record<string, AttributeValue['type']>>): void {
  for (const [name, type] of Object.entries(types)) {
    const a = node.attributes.get(name)?.value;
    if (a && a.type !== type) {
      throw new UserError(`${printable(node.label)}: attribute ${printable(name)} is ${a.type === 'opaque' ? `of ONNX type ${a.onnxType}` : a.type}, but ONNX defines it as ${type}; the model is malformed`, {
        hint: 'export the model again',
      });
    }
  }
}

const CONV_ATTRIBUTES = { auto_pad: 'string', kernel_shape: 'ints', pads: 'ints', strides: 'ints', dilations: 'ints', group: 'int' } as const;
const BN_ATTRIBUTES = { epsilon: 'float', momentum: 'float', training_mode: 'int', spatial: 'int' } as const;

/** A node's data input and first output, which every rewrite reconnects. */
function hasDataflow(node: Node): string | undefined {
  if (!node.inputs[0]) return `${node.label} has no data input`;
  if (!node.outputs[0]) return `${node.label} has no output`;
  return undefined;
}

export interface ConvRead {
  readonly step: ConvStep;
  readonly weight: OnnxParam;
  readonly bias?: OnnxParam;
}

export function convStep(node: Node, folder: ConstantFolder): Check<ConvRead> {
  if (node.opType !== 'Conv' || node.domain !== '') return refuse(`${node.label} is not an ONNX Conv`);
  const missing = hasDataflow(node);
  if (missing) return refuse(missing);
  checkAttributeTypes(node, CONV_ATTRIBUTES);
  const w = constParam(node.inputs[1], `${node.label}: weight`, folder);
  if (!w.ok) return w;
  const shape = w.plan.tensor.shape;
  if (shape.length !== 4) return refuse(`${node.label} is a ${shape.length - 2}-D conv; only 2-D convs are merged`);
  let bias: OnnxParam | undefined;
  if (node.inputs[2]) {
    const b = constParam(node.inputs[2], `${node.label}: bias`, folder);
    if (!b.ok) return b;
    if (b.plan.tensor.shape.length !== 1 || b.plan.tensor.shape[0] !== shape[0]) return refuse(`${node.label}: bias shape [${b.plan.tensor.shape}] does not match ${shape[0]} output channels`);
    bias = b.plan;
  }
  const autoPad = stringAttr(node.attributes, 'auto_pad', 'NOTSET');
  if (autoPad !== 'NOTSET' && autoPad !== 'VALID') return refuse(`${node.label} uses auto_pad=${autoPad}; only explicit pads are merged`);
  const kernel = intsAttr(node.attributes, 'kernel_shape');
  if (kernel && (kernel[0] !== shape[2] || kernel[1] !== shape[3])) return refuse(`${node.label}: kernel_shape [${kernel}] disagrees with its weight [${shape}]`);
  const pads = autoPad === 'VALID' ? [0, 0, 0, 0] : intsAttr(node.attributes, 'pads') ?? [0, 0, 0, 0];
  const strides = intsAttr(node.attributes, 'strides') ?? [1, 1];
  const dilations = intsAttr(node.attributes, 'dilations') ?? [1, 1];
  if (pads.length !== 4 || strides.length !== 2 || dilations.length !== 2) return refuse(`${node.label}: pads/strides/dilations do not describe a 2-D conv`);
  return accept({
    weight: w.plan,
    bias,
    step: {
      op: 'conv',
      weight: w.plan,
      bias,
      group: intAttr(node.attributes, 'group', 1),
      stride: [strides[0], strides[1]],
      dilation: [dilations[0], dilations[1]],
      pads: [pads[0], pads[1], pads[2], pads[3]],
    },
  });
}

export interface BnRead {
  readonly step: BnStep;
  /** Why the BatchNorm cannot be folded although it reads as one (training mode, statistics read outside). */
  readonly problem?: string;
}

/** A BatchNormalization's parameters: shareable (exporters de-duplicate equal ones), read later. */
export function bnStep(node: Node, folder: ConstantFolder, defaultEpsilon: number | undefined): Check<BnRead> {
  if (node.opType !== 'BatchNormalization' || node.domain !== '') return refuse(`${node.label} is not an ONNX BatchNormalization`);
  const missing = hasDataflow(node);
  if (missing) return refuse(missing);
  checkAttributeTypes(node, BN_ATTRIBUTES);
  const names = ['scale', 'bias', 'mean', 'var'] as const;
  const got: OnnxParam[] = [];
  for (let i = 0; i < 4; i++) {
    const p = constParam(node.inputs[i + 1], `${node.label}: ${names[i]}`, folder);
    if (!p.ok) return p;
    got.push(p.plan);
  }
  const channels = got[0].tensor.shape[0];
  if (got.some((g) => g.tensor.shape.length !== 1 || g.tensor.shape[0] !== channels)) return refuse(`${node.label}: parameter shapes [${got.map((g) => g.tensor.shape).join('], [')}] are not all [${channels}]`);
  const eps = floatAttr(node.attributes, 'epsilon', defaultEpsilon ?? 1e-5);
  let problem: string | undefined;
  if (intAttr(node.attributes, 'training_mode', 0) !== 0) problem = `${node.label} runs in training mode (batch statistics); re-export the model in eval mode`;
  const extra = node.outputs.slice(1).find((o) => o.uses.length > 0 || node.graph?.isGraphOutput(o));
  if (extra) problem ??= `${node.label}: its running-statistics output ${extra.name} is read`;
  return accept({ step: { op: 'bn', gamma: got[0], beta: got[1], mean: got[2], variance: got[3], eps }, problem });
}

/**
 * Refuses NaN or ±Infinity in the initializers the rules left as they were: those they merged were
 * checked as they were read, but a bad value in a tensor passed through (a classifier head) would reach
 * the deploy model, and the check would pass it, both models sharing it.
 */
export function assertFiniteInitializers(graph: Graph): void {
  for (const v of graph.initializers()) assertFiniteTensor(v.name, v.initializer!.tensor);
}

/**
 * A model exported without its parameters (torch.onnx.export with export_params=False) takes every Conv
 * weight as a graph input: nothing can be merged, and a check would run both models on random weights.
 */
export function assertHasWeights(graph: Graph, file: string): void {
  const n = convWeightsAllInputs(graph);
  if (n === 0) return;
  throw new UserError(`${printable(file)} has no weights to merge: every Conv weight (${n}) is a graph input, not a constant`, {
    code: 'BAD_INPUT',
    hint: 'export the model with its parameters (torch.onnx.export with export_params=True, the default)',
  });
}

/** How many Conv weights there are when every one is a graph input (no constant among them); else 0. */
export function convWeightsAllInputs(graph: Graph): number {
  const convs = graph.nodes.filter((n) => n.opType === 'Conv' && n.domain === '' && n.inputs[1]);
  if (convs.length === 0 || convs.some((n) => constantTensor(n.inputs[1]!))) return 0;
  // Weights computed inside the graph (a dequantization, say) are the rules' to explain, site by site.
  return convs.every((n) => !n.inputs[1]!.producer) ? convs.length : 0;
}
