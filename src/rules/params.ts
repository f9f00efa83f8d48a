// Reading Conv and BatchNormalization parameters for the rules. A parameter must be a constant
// (initializer or Constant node), float32, and read by no node outside the match.
import { UserError } from '../errors';
import { firstNonFinite } from '../formats/finite';
import { printable } from '../formats/printable';
import { AttributeValue, floatAttr, intAttr, intsAttr, stringAttr } from '../ir/attribute';
import { Graph, Node, Value } from '../ir/graph';
import { BatchNormParams } from '../math/kernel';
import { Tensor, toFloat32 } from '../tensor';
import { Check, refuse } from './rule';

/** The constant behind a value: an initializer or Constant node, possibly behind Identity nodes. */
export function constantTensor(v: Value): Tensor | undefined {
  for (let hops = 0; hops < 16; hops++) {
    if (v.initializer) return v.initializer.tensor;
    const p = v.producer;
    if (!p || p.domain !== '') return undefined;
    if (p.opType === 'Constant' && p.inputs.length === 0) {
      const a = p.attributes.get('value')?.value;
      return a?.type === 'tensor' ? a.value : undefined;
    }
    // Exporters de-duplicate equal initializers and feed the copies through Identity nodes.
    if (p.opType !== 'Identity' || !p.inputs[0]) return undefined;
    v = p.inputs[0];
  }
  return undefined;
}

/**
 * A constant parameter: checks, in order, that it is constant, float32 and, unless `shareable`, read by
 * no node outside the match. BN statistics are shareable: exporters de-duplicate equal ones (e.g. fresh
 * BNs), and folding only reads them. A shared conv weight is a tied weight and is left alone.
 */
export function param(v: Value | null | undefined, what: string, inside: ReadonlySet<Node>, options: { shareable?: boolean } = {}): Check<{ value: Value; tensor: Tensor }> {
  if (!v) return refuse(`${what} is missing`);
  const t = constantTensor(v);
  if (!t) return refuse(`${what} ${v.name} is not a constant (it is computed by ${v.producer?.label ?? 'a graph input'})`);
  if (t.dtype !== 'float32') return refuse(`${what} ${v.name} is ${t.dtype}; only float32 parameters are merged`);
  if (!options.shareable) {
    const outside = v.uses.find((u) => !inside.has(u.node));
    if (outside) return refuse(`${what} ${v.name} is shared with ${outside.node.label} outside the match`);
    if (v.producer && !inside.has(v.producer) && v.producer.opType !== 'Constant') return refuse(`${what} ${v.name} is an alias (${v.producer.label}) of a weight that may be shared`);
  }
  return { ok: true, plan: { value: v, tensor: t } };
}

export interface ConvInfo {
  readonly node: Node;
  readonly x: Value;
  readonly weight: { value: Value; tensor: Tensor };
  readonly bias?: { value: Value; tensor: Tensor };
  /** [out, in/groups, kh, kw] */
  readonly shape: readonly [number, number, number, number];
  readonly group: number;
  readonly strides: readonly [number, number];
  readonly dilations: readonly [number, number];
  /** [top, left, bottom, right] */
  readonly pads: readonly [number, number, number, number];
}

/** The attributes a rule reads, each of the type ONNX defines for it: another type is a malformed model. */
function checkAttributeTypes(node: Node, types: Readonly<Record<string, AttributeValue['type']>>): void {
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

export function convInfo(node: Node, inside: ReadonlySet<Node>): Check<ConvInfo> {
  if (node.opType !== 'Conv' || node.domain !== '') return refuse(`${node.label} is not an ONNX Conv`);
  const missing = hasDataflow(node);
  if (missing) return refuse(missing);
  checkAttributeTypes(node, CONV_ATTRIBUTES);
  const w = param(node.inputs[1], `${node.label}: weight`, inside);
  if (!w.ok) return w;
  const shape = w.plan.tensor.shape;
  if (shape.length !== 4) return refuse(`${node.label} is a ${shape.length - 2}-D conv; only 2-D convs are merged`);
  let bias: { value: Value; tensor: Tensor } | undefined;
  if (node.inputs[2]) {
    const b = param(node.inputs[2], `${node.label}: bias`, inside);
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
  return {
    ok: true,
    plan: {
      node,
      x: node.input(0),
      weight: w.plan,
      bias,
      shape: [shape[0], shape[1], shape[2], shape[3]],
      group: intAttr(node.attributes, 'group', 1),
      strides: [strides[0], strides[1]],
      dilations: [dilations[0], dilations[1]],
      pads: [pads[0], pads[1], pads[2], pads[3]],
    },
  };
}

export interface BnInfo {
  readonly node: Node;
  readonly x: Value;
  readonly values: readonly Value[];
  readonly params: BatchNormParams;
  readonly channels: number;
}

/** BN parameters, read now (they are small). NaN, Inf or a negative variance is bad input, not a refusal. */
export function bnInfo(node: Node, inside: ReadonlySet<Node>, options: { defaultEpsilon?: number }): Check<BnInfo> {
  if (node.opType !== 'BatchNormalization' || node.domain !== '') return refuse(`${node.label} is not an ONNX BatchNormalization`);
  const missing = hasDataflow(node);
  if (missing) return refuse(missing);
  checkAttributeTypes(node, BN_ATTRIBUTES);
  if (intAttr(node.attributes, 'training_mode', 0) !== 0) return refuse(`${node.label} runs in training mode (batch statistics); re-export the model in eval mode`);
  const extra = node.outputs.slice(1).find((o) => o.uses.length > 0 || node.graph?.isGraphOutput(o));
  if (extra) return refuse(`${node.label}: its running-statistics output ${extra.name} is read`);
  const names = ['scale', 'bias', 'mean', 'var'] as const;
  const got: { value: Value; tensor: Tensor }[] = [];
  for (let i = 0; i < 4; i++) {
    const p = param(node.inputs[i + 1], `${node.label}: ${names[i]}`, inside, { shareable: true });
    if (!p.ok) return p;
    got.push(p.plan);
  }
  const channels = got[0].tensor.shape[0];
  if (got.some((g) => g.tensor.shape.length !== 1 || g.tensor.shape[0] !== channels)) return refuse(`${node.label}: parameter shapes [${got.map((g) => g.tensor.shape).join('], [')}] are not all [${channels}]`);
  const [gamma, beta, mean, variance] = got.map((g) => toFloat32(g.tensor));
  got.forEach((g, i) => assertFinite(g.value.name, [gamma, beta, mean, variance][i]));
  const eps = floatAttr(node.attributes, 'epsilon', options.defaultEpsilon ?? 1e-5);
  // Running variances a hair below zero (-1e-19) are float noise from training and harmless; only a
  // variance that eps cannot lift above zero makes the fold divide by sqrt of a non-positive number.
  const neg = variance.findIndex((v) => !(v + eps > 0));
  if (neg >= 0) throw new UserError(`${printable(got[3].value.name)} (running_var of ${printable(node.label)}) is ${variance[neg]} at channel ${neg}, below -eps (${Number(eps.toPrecision(7))}); folding it would produce NaN`, { hint: 'the weights are damaged; re-export them from a healthy model' });
  return { ok: true, plan: { node, x: node.input(0), values: got.map((g) => g.value), params: { gamma, beta, mean, variance, eps }, channels } };
}

export function assertFinite(name: string, values: Float32Array): void {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) throw nonFiniteError(name, values[i], i);
}

/**
 * Refuses NaN or ±Infinity in the initializers the rules left as they were: those they merged were
 * checked as they were read, but a bad value in a tensor passed through (a classifier head) would reach
 * the deploy model, and the check would pass it, both models sharing it.
 */
export function assertFiniteInitializers(graph: Graph): void {
  for (const v of graph.initializers()) {
    const bad = firstNonFinite(v.initializer!.tensor);
    if (bad) throw nonFiniteError(v.name, bad.value, bad.index);
  }
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

function nonFiniteError(name: string, value: number, index: number): UserError {
  return new UserError(`tensor ${printable(name)} holds ${value} at element ${index}: a model with NaN or Inf weights cannot be converted`, { hint: 'the weights are damaged; re-export them from a healthy model' });
}

export function usedOnlyBy(v: Value, graph: Graph, nodes: ReadonlySet<Node>): boolean {
  return !graph.isGraphOutput(v) && v.uses.every((u) => nodes.has(u.node));
}
