// Size and cost of a graph: parameters (as PyTorch counts them) and multiply-accumulates of the
// Conv, Gemm and MatMul nodes at the given input shapes, plus the op histogram.
import { DTYPES, numel } from '../dtype';
import { Graph, Node, Value } from '../ir/graph';
import { opHistogram } from '../rules/pipeline';
import { constantTensor } from '../ir/constants';
import { Dims, propagateShapes, weightDims } from '../ir/shapes';

export interface GraphCost {
  /** Elements of the float constants the nodes compute with; BatchNorm running statistics are buffers, not parameters, and shape constants are left out. */
  readonly parameters: number;
  /** Multiply-accumulates of Conv (N·Cout·Hout·Wout·Cin/groups·kh·kw), Gemm (M·N·K) and MatMul; null when the input shapes are not known. */
  readonly macs: number | null;
  readonly macsByOp: Readonly<Record<string, number>>;
  /** Nodes whose MACs could not be counted because a shape could not be worked out. */
  readonly uncounted: readonly string[];
  readonly ops: Readonly<Record<string, number>>;
}

/** Input slots that carry shapes, sizes or axes rather than weights. */
const SHAPE_SLOTS: Readonly<Record<string, readonly number[]>> = {
  Reshape: [1], Resize: [1, 2, 3], Upsample: [1], Pad: [1, 2, 3], Slice: [1, 2, 3, 4], Squeeze: [1], Unsqueeze: [1], Expand: [1], Tile: [1],
  Split: [1], ConstantOfShape: [0], TopK: [1], ReduceMean: [1], ReduceSum: [1], ReduceMax: [1], ReduceMin: [1], Clip: [1, 2],
};
/** Values that pass a constant through unchanged, so the slot it ends in decides what it is. */
const PASS_THROUGH = new Set(['Identity', 'Cast', 'Concat', 'Unsqueeze']);

export function graphCost(graph: Graph, inputs: ReadonlyMap<string, Dims> | undefined, opset: number): GraphCost {
  const ops = opHistogram(graph);
  const parameters = countParameters(graph);
  if (!inputs) return { parameters, macs: null, macsByOp: {}, uncounted: [], ops };
  const shapes = propagateShapes(graph, inputs, opset);
  const macsByOp: Record<string, number> = {};
  const uncounted: string[] = [];
  for (const n of graph.nodes) {
    if (n.domain !== '' || !['Conv', 'Gemm', 'MatMul'].includes(n.opType)) continue;
    const m = nodeMacs(n, shapes);
    if (m === undefined) uncounted.push(n.label);
    else macsByOp[n.opType] = (macsByOp[n.opType] ?? 0) + m;
  }
  const macs = Object.values(macsByOp).reduce((a, b) => a + b, 0);
  return { parameters, macs, macsByOp, uncounted, ops };
}

function nodeMacs(n: Node, shapes: ReadonlyMap<Value, Dims>): number | undefined {
  const y = shapes.get(n.outputs[0]);
  if (!y) return undefined;
  if (n.opType === 'Conv') {
    const w = weightDims(n, shapes);
    return w && w.length >= 3 ? numel(y) * numel(w.slice(1)) : undefined;
  }
  const a = n.inputs[0] ? shapes.get(n.inputs[0]) : undefined;
  if (!a || a.length === 0) return undefined;
  if (n.opType === 'Gemm') {
    const k = n.attributes.get('transA')?.value;
    return numel(y) * (k?.type === 'int' && k.value ? a[0] : a[a.length - 1]);
  }
  return numel(y) * a[a.length - 1]; // MatMul: every output element sums K products
}

function countParameters(graph: Graph): number {
  const memo = new Map<Value, boolean>();
  let total = 0;
  const seen = new Set<Value>();
  const count = (v: Value, elements: number) => {
    if (seen.has(v)) return;
    seen.add(v);
    if (isWeight(v, memo, 0)) total += elements;
  };
  for (const v of graph.values) {
    const t = v.initializer?.tensor;
    if (t && DTYPES.get(t.dtype)?.isFloat) count(v, numel(t.shape));
  }
  for (const n of graph.nodes) {
    if (n.opType !== 'Constant' || n.domain !== '') continue;
    const t = constantTensor(n.outputs[0]);
    if (t && DTYPES.get(t.dtype)?.isFloat) count(n.outputs[0], numel(t.shape));
  }
  return total;
}

/** Read somewhere as a weight: not only as BN running statistics or as a shape/axes input. */
function isWeight(v: Value, memo: Map<Value, boolean>, depth: number): boolean {
  const known = memo.get(v);
  if (known !== undefined) return known;
  let weight = false;
  for (const u of v.uses) {
    const n = u.node;
    if (n.opType === 'BatchNormalization' && (u.index === 3 || u.index === 4)) continue;
    if (SHAPE_SLOTS[n.opType]?.includes(u.index)) continue;
    if (PASS_THROUGH.has(n.opType) && depth < 8) {
      if (n.outputs.some((o) => isWeight(o, memo, depth + 1))) weight = true;
      if (weight) break;
      continue;
    }
    weight = true;
    break;
  }
  memo.set(v, weight);
  return weight;
}
