// A small shape propagator: from the graph inputs' shapes through the ops of convolutional networks
// (Conv, pools, activations, elementwise ops with broadcasting, Concat, Resize, Flatten, Gemm, MatMul,
// Reshape, Pad, …), so that MACs can be counted. Where an op is not known or an input that decides the
// shape is not a constant, the shapes recorded in the file (value_info) are used if they are fixed;
// otherwise the value stays unknown, and so does everything computed from it.
import { intAttr, intsAttr, stringAttr } from './attribute';
import { Graph, Node, Value } from './graph';
import { constantNumbers, constantTensor } from './constants';
import { ConstantFolder } from './evaluate';

export type Dims = readonly number[];

const SAME_SHAPE = new Set([
  'Relu', 'Sigmoid', 'Tanh', 'LeakyRelu', 'HardSigmoid', 'HardSwish', 'Clip', 'Elu', 'Selu', 'Celu', 'Softplus', 'Softsign', 'Identity',
  'Dropout', 'BatchNormalization', 'InstanceNormalization', 'LayerNormalization', 'Cast', 'Neg', 'Abs', 'Exp', 'Log', 'Sqrt', 'Reciprocal',
  'Erf', 'Softmax', 'LogSoftmax', 'Hardmax', 'Mish', 'Gelu', 'Floor', 'Ceil', 'Round', 'Sign', 'Not', 'ThresholdedRelu', 'LRN', 'CumSum',
  'QuantizeLinear', 'DequantizeLinear', 'Sin', 'Cos', 'IsNaN', 'IsInf', 'ScatterND', 'ScatterElements',
]);

const BROADCAST = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'Mean', 'Equal', 'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual', 'And', 'Or', 'Xor', 'Where', 'PRelu', 'Mod', 'BitShift']);

/** The attributes the propagator reads, with their ONNX types; a node where one has another type is malformed and its shapes stay unknown. */
const ATTRIBUTE_TYPES: Readonly<Record<string, 'int' | 'ints' | 'string'>> = {
  axis: 'int', axes: 'ints', perm: 'ints', kernel_shape: 'ints', strides: 'ints', pads: 'ints', dilations: 'ints', group: 'int',
  auto_pad: 'string', ceil_mode: 'int', transA: 'int', transB: 'int', allowzero: 'int', keepdims: 'int', noop_with_empty_axes: 'int',
  split: 'ints', starts: 'ints', ends: 'ints',
};

/** Whether every attribute the propagator (and the block report) reads has the type ONNX gives it. */
export function attributesWellTyped(n: Node): boolean {
  for (const [name, a] of n.attributes) {
    const want = ATTRIBUTE_TYPES[name];
    if (want && a.value.type !== want) return false;
  }
  return true;
}

const REDUCE = new Set(['ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceSumSquare', 'ReduceLogSum', 'ReduceLogSumExp']);

/**
 * Shapes of every value that can be worked out from `inputs` (graph input name → dims). Initializers and
 * Constant nodes have their own. Each node is visited once, in graph order (ONNX graphs are sorted).
 * `recorded: false` leaves a value unknown rather than take the dims its file records for it.
 */
export function propagateShapes(graph: Graph, inputs: ReadonlyMap<string, Dims>, opset: number, options: { readonly recorded?: boolean } = {}): Map<Value, Dims> {
  const useRecorded = options.recorded ?? true;
  const shapes = new Map<Value, Dims>();
  // Shape-deciding inputs computed inside the graph (pads of an exported F.pad, Shape → Gather → …) are
  // folded from the shapes worked out so far: nodes are visited in order, so those are all known.
  const folder = new ConstantFolder((v) => shapes.get(v));
  const nums: Numbers = (v) => {
    const c = constantNumbers(v);
    if (c || !v) return c;
    const f = folder.fold(v);
    return f && f.data.length <= 64 ? Array.from(f.data) : undefined;
  };
  for (const v of graph.values) if (v.initializer) shapes.set(v, v.initializer.tensor.shape);
  for (const v of graph.inputs) {
    const dims = inputs.get(v.name);
    if (dims && !v.initializer) shapes.set(v, dims);
  }
  const shapeOf = (v: Value | null | undefined): Dims | undefined => (v ? shapes.get(v) : undefined);
  for (const n of graph.nodes) {
    let out: (Dims | undefined)[] = [];
    if ((n.domain === '' || n.domain === 'ai.onnx') && attributesWellTyped(n)) out = inferNode(n, shapeOf, opset, nums);
    n.outputs.forEach((o, i) => {
      const d = out[i] ?? (useRecorded ? recorded(o) : undefined);
      if (d && d.every((x) => Number.isSafeInteger(x) && x >= 0)) shapes.set(o, d);
    });
  }
  return shapes;
}

/** Dims written in the file for a value, when all are fixed numbers. */
function recorded(v: Value): Dims | undefined {
  const dims = v.type?.dims;
  if (!dims || dims.some((d) => typeof d !== 'number' || d < 0)) return undefined;
  return dims as number[];
}

type ShapeOf = (v: Value | null | undefined) => Dims | undefined;
type Numbers = (v: Value | null | undefined) => number[] | undefined;

function inferNode(n: Node, shapeOf: ShapeOf, opset: number, nums: Numbers): (Dims | undefined)[] {
  const x = shapeOf(n.inputs[0]);
  const op = n.opType;
  if (op === 'Constant') {
    const a = n.attributes.get('value')?.value;
    if (a?.type === 'tensor') return [a.value.shape];
    if (n.attributes.has('value_float') || n.attributes.has('value_int')) return [[]];
    const list = n.attributes.get('value_floats')?.value ?? n.attributes.get('value_ints')?.value;
    return list && 'value' in list && Array.isArray(list.value) ? [[list.value.length]] : [];
  }
  if (SAME_SHAPE.has(op)) return [x];
  if (BROADCAST.has(op)) return [broadcast(n.inputs.filter((v) => v).map(shapeOf))];
  switch (op) {
    case 'Conv':
      return [x ? conv(n, x, shapeOf(n.inputs[1])) : undefined];
    case 'MaxPool':
    case 'AveragePool':
    case 'LpPool':
      return [x ? pool(n, x) : undefined];
    case 'GlobalAveragePool':
    case 'GlobalMaxPool':
    case 'GlobalLpPool':
      return [x && x.length >= 2 ? [x[0], x[1], ...x.slice(2).map(() => 1)] : undefined];
    case 'Flatten': {
      if (!x) return [];
      const axis = normAxis(intAttr(n.attributes, 'axis', 1), x.length + 1);
      return [[prod(x.slice(0, axis)), prod(x.slice(axis))]];
    }
    case 'Gemm': {
      const a = x;
      const b = shapeOf(n.inputs[1]);
      if (!a || !b || a.length !== 2 || b.length !== 2) return [];
      const m = intAttr(n.attributes, 'transA', 0) ? a[1] : a[0];
      const cols = intAttr(n.attributes, 'transB', 0) ? b[0] : b[1];
      return [[m, cols]];
    }
    case 'MatMul':
      return [matmul(x, shapeOf(n.inputs[1]))];
    case 'Concat': {
      const all = n.inputs.map(shapeOf);
      if (!all.length || all.some((s) => !s)) return [];
      const rank = all[0]!.length;
      const axis = normAxis(intAttr(n.attributes, 'axis', 0), rank);
      return [all[0]!.map((d, i) => (i === axis ? all.reduce((s, a) => s + a![i], 0) : d))];
    }
    case 'Reshape':
      return [x ? reshape(x, nums(n.inputs[1]), intAttr(n.attributes, 'allowzero', 0) === 1) : undefined];
    case 'Resize':
    case 'Upsample':
      return [x ? resize(n, x, opset, nums) : undefined];
    case 'Pad': {
      const pads = opset < 11 ? intsAttr(n.attributes, 'pads') : nums(n.inputs[1]);
      if (!x || !pads || pads.length !== 2 * x.length || n.inputs[3]) return [];
      return [x.map((d, i) => d + pads[i] + pads[i + x.length])];
    }
    case 'Transpose': {
      if (!x) return [];
      const perm = intsAttr(n.attributes, 'perm') ?? x.map((_, i) => x.length - 1 - i);
      return [perm.map((p) => x[p])];
    }
    case 'Squeeze': {
      if (!x) return [];
      const axes = axesOf(n, opset, 13, nums);
      if (axes === null) return [];
      const drop = new Set((axes ?? x.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0)).map((a) => normAxis(a, x.length)));
      return [x.filter((_, i) => !drop.has(i))];
    }
    case 'Unsqueeze': {
      const axes = axesOf(n, opset, 13, nums);
      if (!x || !axes) return [];
      const rank = x.length + axes.length;
      const at = new Set(axes.map((a) => normAxis(a, rank)));
      const out: number[] = [];
      let k = 0;
      for (let i = 0; i < rank; i++) out.push(at.has(i) ? 1 : x[k++]);
      return [out];
    }
    case 'Shape':
      return [x ? [x.length] : undefined];
    case 'Split':
      return x ? split(n, x, opset, nums) : [];
    case 'Slice':
      return [x ? slice(n, x, opset, nums) : undefined];
  }
  if (REDUCE.has(op)) {
    if (!x) return [];
    const axes = axesOf(n, opset, op === 'ReduceSum' ? 13 : 18, nums);
    if (axes === null) return [];
    const keep = intAttr(n.attributes, 'keepdims', 1) === 1;
    if (!axes && intAttr(n.attributes, 'noop_with_empty_axes', 0) === 1) return [x];
    const set = new Set((axes ?? x.map((_, i) => i)).map((a) => normAxis(a, x.length)));
    return [keep ? x.map((d, i) => (set.has(i) ? 1 : d)) : x.filter((_, i) => !set.has(i))];
  }
  return [];
}

const prod = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);
const normAxis = (a: number, rank: number): number => (a < 0 ? a + rank : a);

/** Axes from the attribute (before `inputFrom`) or the second input; undefined = none given; null = not a constant. */
function axesOf(n: Node, opset: number, inputFrom: number, nums: Numbers): readonly number[] | undefined | null {
  if (opset < inputFrom) return intsAttr(n.attributes, 'axes');
  if (!n.inputs[1]) return undefined;
  return nums(n.inputs[1]) ?? null;
}

/** Numpy-style broadcast; undefined when a shape is unknown or the shapes do not broadcast. */
function broadcast(shapes: readonly (Dims | undefined)[]): Dims | undefined {
  if (shapes.length === 0 || shapes.some((s) => !s)) return undefined;
  const all = shapes as Dims[];
  const rank = Math.max(...all.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let d = 1;
    for (const s of all) {
      const k = s[s.length - rank + i] ?? 1;
      if (k === d || k === 1) continue;
      if (d !== 1) return undefined;
      d = k;
    }
    out.push(d);
  }
  return out;
}

/** Output size along one spatial axis with explicit pads. */
function window(size: number, k: number, stride: number, dilation: number, padBegin: number, padEnd: number, ceil: boolean): number {
  const span = dilation * (k - 1) + 1;
  const q = (size + padBegin + padEnd - span) / stride;
  if (!ceil) return Math.floor(q) + 1;
  // With ceil_mode a last window that would start inside the end padding is dropped, as onnxruntime and
  // PyTorch compute it (ONNX shape inference keeps it and disagrees with the runtime there).
  const out = Math.ceil(q) + 1;
  return (out - 1) * stride >= size + padBegin ? out - 1 : out;
}

function spatial(n: Node, x: Dims, kernel: readonly number[], ceil: boolean): Dims | undefined {
  const r = x.length - 2;
  if (r < 1 || kernel.length !== r) return undefined;
  const strides = intsAttr(n.attributes, 'strides') ?? kernel.map(() => 1);
  const dil = intsAttr(n.attributes, 'dilations') ?? kernel.map(() => 1);
  const autoPad = stringAttr(n.attributes, 'auto_pad', 'NOTSET');
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const size = x[2 + i];
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') out.push(Math.ceil(size / strides[i]));
    else {
      const pads = autoPad === 'VALID' ? kernel.map(() => 0).concat(kernel.map(() => 0)) : intsAttr(n.attributes, 'pads') ?? Array(2 * r).fill(0);
      out.push(window(size, kernel[i], strides[i], dil[i], pads[i], pads[i + r], ceil));
    }
  }
  return out.every((d) => d >= 1) ? out : undefined;
}

function conv(n: Node, x: Dims, w: Dims | undefined): Dims | undefined {
  if (!w || w.length !== x.length) return undefined;
  const kernel = intsAttr(n.attributes, 'kernel_shape') ?? w.slice(2);
  const s = spatial(n, x, kernel, false);
  return s ? [x[0], w[0], ...s] : undefined;
}

function pool(n: Node, x: Dims): Dims | undefined {
  const kernel = intsAttr(n.attributes, 'kernel_shape');
  if (!kernel) return undefined;
  const s = spatial(n, x, kernel, intAttr(n.attributes, 'ceil_mode', 0) === 1);
  return s ? [x[0], x[1], ...s] : undefined;
}

function matmul(a: Dims | undefined, b: Dims | undefined): Dims | undefined {
  if (!a || !b || a.length === 0 || b.length === 0) return undefined;
  const a2 = a.length === 1 ? [1, a[0]] : a;
  const b2 = b.length === 1 ? [b[0], 1] : b;
  if (a2[a2.length - 1] !== b2[b2.length - 2]) return undefined;
  const batch = broadcast([a2.slice(0, -2), b2.slice(0, -2)]);
  if (!batch) return undefined;
  const out = [...batch, ...(a.length === 1 ? [] : [a2[a2.length - 2]]), ...(b.length === 1 ? [] : [b2[b2.length - 1]])];
  return out;
}

function reshape(x: Dims, target: readonly number[] | undefined, allowZero: boolean): Dims | undefined {
  if (!target) return undefined;
  const out = target.map((d, i) => (d === 0 && !allowZero ? x[i] : d));
  const known = prod(out.filter((d) => d !== -1));
  const free = out.filter((d) => d === -1).length;
  if (free > 1 || out.some((d) => d === undefined || d < -1)) return undefined;
  if (free === 1) {
    if (known === 0 || prod(x) % known !== 0) return undefined;
    return out.map((d) => (d === -1 ? prod(x) / known : d));
  }
  return prod(out) === prod(x) ? out : undefined;
}

function resize(n: Node, x: Dims, opset: number, nums: Numbers): Dims | undefined {
  if (n.attributes.has('axes')) return undefined;
  let scales: readonly number[] | undefined;
  let sizes: readonly number[] | undefined;
  if (n.opType === 'Upsample' || opset < 11) {
    scales = n.inputs[1] ? nums(n.inputs[1]) : undefined;
    // Upsample before opset 9 carries its scales as an attribute.
    const attr = n.attributes.get('scales')?.value;
    if (!scales && attr?.type === 'floats') scales = attr.value;
  } else {
    sizes = n.inputs[3] ? nums(n.inputs[3]) : undefined;
    scales = n.inputs[2] ? nums(n.inputs[2]) : undefined;
  }
  if (sizes && sizes.length === x.length) return sizes;
  if (scales && scales.length === x.length) return x.map((d, i) => Math.floor(d * scales![i]));
  return undefined;
}

function split(n: Node, x: Dims, opset: number, nums: Numbers): (Dims | undefined)[] {
  const axis = normAxis(intAttr(n.attributes, 'axis', 0), x.length);
  const count = n.outputs.length;
  let parts: readonly number[] | undefined = opset < 13 ? intsAttr(n.attributes, 'split') : n.inputs[1] ? nums(n.inputs[1]) : undefined;
  if (!parts) {
    const size = Math.ceil(x[axis] / count);
    parts = Array.from({ length: count }, (_, i) => Math.max(0, Math.min(size, x[axis] - i * size)));
  }
  if (parts.length !== count) return [];
  return parts.map((p) => x.map((d, i) => (i === axis ? p : d)));
}

function slice(n: Node, x: Dims, opset: number, nums: Numbers): Dims | undefined {
  // Before opset 10 the bounds are attributes; since, inputs that must be constants here.
  const get = (i: number, attr: string): readonly number[] | undefined | null => {
    if (opset < 10) return intsAttr(n.attributes, attr);
    return n.inputs[i] ? nums(n.inputs[i]) ?? null : undefined;
  };
  const starts = get(1, 'starts');
  const ends = get(2, 'ends');
  const axes = get(3, 'axes');
  const steps = opset < 10 ? undefined : get(4, 'steps');
  if (!starts || !ends || axes === null || steps === null) return undefined;
  const out = [...x];
  (axes ?? starts.map((_, i) => i)).forEach((a0, k) => {
    const a = normAxis(a0, x.length);
    const d = x[a];
    const step = steps?.[k] ?? 1;
    const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
    const lo = step > 0 ? 0 : -1;
    const hi = step > 0 ? d : d - 1;
    const s = clamp(starts[k] < 0 ? starts[k] + d : starts[k], lo, hi);
    const e = clamp(ends[k] < 0 ? ends[k] + d : ends[k], lo, hi);
    out[a] = Math.max(0, Math.ceil((e - s) / step));
  });
  return out;
}

/** A Conv's weight shape, from its constant or from propagation. */
export function weightDims(n: Node, shapes: ReadonlyMap<Value, Dims>): Dims | undefined {
  const w = n.inputs[1];
  if (!w) return undefined;
  return constantTensor(w)?.shape ?? shapes.get(w);
}
