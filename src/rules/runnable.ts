// Models that cannot run anywhere, refused before anything runs them: a Conv whose group is 0 or does
// not divide its channels, whose weight has an empty dimension, a kernel_shape other than its own or
// channels its input does not have, whose bias is not one value per output channel; a BatchNormalization
// whose statistics do not hold one value per channel; an elementwise op whose inputs do not broadcast.
// onnxruntime refuses each, some at load and some only when the node runs, in a message that may not
// name the node (or names one of its own fused nodes); a conversion with `--no-verify` would write a
// model that does not run either. The conv's own shape rules are the block validator's (convProblem in
// reparam/geometry.ts); ONNX's BatchNormalization, unlike a checkpoint's, wants exactly [C] statistics.
//
// Shapes are worked out from the graph inputs' declared dims (a symbolic batch taken as 1) and the
// constants, never from the value_info a file records: onnxruntime runs a model whose recorded shapes are
// stale, so they cannot decide a refusal. What cannot be worked out is not checked here.
import { FormatError, UserError } from '../errors';
import { readOnnx } from '../formats/onnx/read';
import { printable } from '../formats/printable';
import { constantTensor } from '../ir/constants';
import { Graph, Node, Value } from '../ir/graph';
import { Dims, propagateShapes } from '../ir/shapes';
import { convProblem } from '../reparam/geometry';

const BROADCAST = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Sum', 'Max', 'Min', 'Mean', 'Where']);

const shapeText = (d: Dims) => `[${d.join(',')}]`;

/** A node as messages name it: its name, or the value it writes when it has none. */
function nodeName(n: Node): string {
  if (n.name) return `${n.opType} ${printable(n.name, 80)}`;
  const out = n.outputs.find((o) => o);
  return out ? `${n.opType} (unnamed, writes ${printable(out.name, 80)})` : `${n.opType} (unnamed)`;
}

function malformed(file: string, n: Node, why: string): UserError {
  return new UserError(`${printable(file)}: ${nodeName(n)}: ${why}; the model is malformed and cannot run`, {
    code: 'BAD_INPUT',
    hint: 'export the model again from its framework (onnx.checker.check_model(model, full_check=True) finds the same node)',
  });
}

/** The shapes onnxruntime will see: from the declared input dims and the constants only. */
function runShapes(graph: Graph, opset: number): Map<Value, Dims> {
  const inputs = new Map<string, Dims>();
  for (const v of graph.inputs) {
    const dims = v.type?.dims;
    if (v.initializer || !dims) continue;
    const fixed = dims.map((d, i) => (typeof d === 'number' && d > 0 ? d : i === 0 ? 1 : undefined));
    if (fixed.every((d): d is number => d !== undefined)) inputs.set(v.name, fixed);
  }
  return propagateShapes(graph, inputs, opset, { recorded: false });
}

/** Refuses the first Conv, BatchNormalization or broadcasting node of the graph that cannot run. */
export function assertRunnable(graph: Graph, opset: number, file: string): void {
  const shapes = runShapes(graph, opset);
  const dims = (v: Value | null | undefined): Dims | undefined => (v ? constantTensor(v)?.shape ?? shapes.get(v) : undefined);
  for (const n of graph.nodes) {
    if (n.domain !== '' && n.domain !== 'ai.onnx') continue;
    const why = n.opType === 'Conv' ? convWhy(n, dims) : n.opType === 'BatchNormalization' ? batchNormWhy(n, dims) : BROADCAST.has(n.opType) ? broadcastWhy(n, dims) : undefined;
    if (why) throw malformed(file, n, why);
  }
}

/**
 * The same, for a model file (verify and bench, before onnxruntime opens it). A file this project's
 * reader does not take (not ONNX as it reads it, a graph larger than it reads) is onnxruntime's to refuse
 * or run; any other refusal (a file that changed while it was read, external data out of the folder) stands.
 */
export function assertRunnableFile(file: string): void {
  let m;
  try {
    m = readOnnx(file);
  } catch (e) {
    if (e instanceof FormatError || (e instanceof UserError && e.code === 'UNSUPPORTED')) return;
    throw e;
  }
  try {
    assertRunnable(m.graph, m.opsets.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 1, file);
  } finally {
    m.close();
  }
}

type DimsOf = (v: Value | null | undefined) => Dims | undefined;

function convWhy(n: Node, dims: DimsOf): string | undefined {
  const g = n.attributes.get('group')?.value;
  const group = g?.type === 'int' ? g.value : 1;
  const w = n.inputs[1];
  const ws = dims(w);
  if (!w || !ws) return Number.isSafeInteger(group) && group >= 1 ? undefined : `group ${group} is not a group count`;
  const b = n.inputs[2];
  const bs = dims(b);
  const bad = convProblem({ name: printable(w.name, 80), tensor: { shape: ws } }, group, b && bs ? { name: printable(b.name, 80), tensor: { shape: bs } } : undefined);
  if (bad) return bad;
  const k = n.attributes.get('kernel_shape')?.value;
  if (k?.type === 'ints' && (k.value.length !== ws.length - 2 || k.value.some((d, i) => d !== ws[i + 2]))) {
    return `kernel_shape ${shapeText(k.value)} does not match weight ${printable(w.name, 80)} of shape ${shapeText(ws)}`;
  }
  const x = dims(n.inputs[0]);
  if (x && x.length !== ws.length) return `its input has rank ${x.length}, its weight ${printable(w.name, 80)} rank ${ws.length}`;
  if (x && x[1] !== ws[1] * group) return `its input has ${x[1]} channels, its weight ${printable(w.name, 80)} of shape ${shapeText(ws)} takes ${ws[1] * group} (${ws[1]} per group × ${group})`;
  return undefined;
}

const BN_INPUTS = ['scale', 'B', 'input_mean', 'input_var'];

function batchNormWhy(n: Node, dims: DimsOf): string | undefined {
  // Before opset 9, spatial=0 gave statistics per element; those are not checked.
  const spatial = n.attributes.get('spatial')?.value;
  if (spatial?.type === 'int' && spatial.value === 0) return undefined;
  const x = dims(n.inputs[0]);
  let channels = x && x.length >= 2 ? x[1] : undefined;
  for (let i = 1; i <= 4; i++) {
    const v = n.inputs[i];
    const d = dims(v);
    if (!v || !d) continue;
    if (d.length !== 1) return `${BN_INPUTS[i - 1]} ${printable(v.name, 80)} has shape ${shapeText(d)}, not one value per channel`;
    if (channels === undefined) channels = d[0];
    else if (d[0] !== channels) return `${BN_INPUTS[i - 1]} ${printable(v.name, 80)} holds ${d[0]} values for ${channels} channels`;
  }
  return undefined;
}

function broadcastWhy(n: Node, dims: DimsOf): string | undefined {
  const all = n.inputs.map(dims);
  if (all.length < 2 || all.some((d) => !d)) return undefined;
  const shapes = all as Dims[];
  const rank = Math.max(...shapes.map((d) => d.length));
  for (let i = 0; i < rank; i++) {
    const sizes = new Set(shapes.map((d) => d[d.length - rank + i] ?? 1).filter((s) => s !== 1));
    if (sizes.size > 1) return `its inputs of shapes ${shapes.map(shapeText).join(' and ')} do not broadcast`;
  }
  return undefined;
}
