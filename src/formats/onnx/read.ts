// ONNX model → Graph IR. Only what the rules need is decoded; every other field is kept as a range of
// the file and written back as it was, so fields newer than this reader survive a round trip.
import * as path from 'path';
import { DecodeError, FormatError, UserError } from '../../errors';
import { Attribute, AttributeValue } from '../../ir/attribute';
import { Graph, Node, Value, ValueType } from '../../ir/graph';
import { dataflowOrder } from '../../ir/passes/dataflow-order';
import { ByteSource, FileSource } from '../bytes';
import { printable } from '../printable';
import { Field, ProtoReader, Wire, fixed32ToFloat, last, toInt64 } from '../protobuf/reader';
import { Part } from '../protobuf/writer';
import { AttrField, AttrType, DimField, GraphField, ModelField, NodeField, OpsetField, ShapeField, TensorField, TensorTypeField, TypeField, ValueInfoField } from './fields';
import { ExternalFiles, readTensorProto } from './tensor-proto';
import { encodedNode, encodedPart, encodedParts } from './encoded';

export interface RawField {
  readonly no: number;
  readonly part: Part;
}

export interface OnnxModel {
  readonly path: string;
  readonly source: ByteSource;
  /** Model-level fields in file order; the graph field is re-encoded from `graph`. Model passes may edit it. */
  readonly modelFields: RawField[];
  /**
   * Graph-level fields in file order; node, initializer, input, output and value_info come from `graph`
   * and appear once each, where the first of their kind stood.
   */
  readonly graphFields: readonly RawField[];
  /** value_info entries by value name, kept while the value exists. */
  readonly valueInfo: Map<string, Part>;
  /** Graph input/output ValueInfoProtos (whole fields) by name; passes that retype the interface replace them. */
  readonly ioInfo: Map<string, Part>;
  readonly graph: Graph;
  readonly irVersion: number;
  readonly opsets: readonly { readonly domain: string; readonly version: number }[];
  readonly producer: string;
  /** The external data files the model was read with (none for a model built in memory). */
  readonly dataFiles?: readonly string[];
  close(): void;
}

const FORMAT = 'an ONNX model';

export function readOnnx(file: string): OnnxModel {
  const source = new FileSource(file);
  try {
    return readOnnxFrom(source, path.dirname(file));
  } catch (e) {
    source.close();
    if (e instanceof DecodeError) throw new FormatError(file, FORMAT, e.message, { offset: e.offset });
    throw e;
  }
}

const rangeOf = (s: ByteSource, f: Field): Part => ({ kind: 'range', range: { source: s, offset: f.start, length: f.end - f.start } });

export function readOnnxFrom(source: ByteSource, baseDir: string): OnnxModel {
  if (source.length === 0) throw new DecodeError('the file is empty', 0);
  const r = new ProtoReader(source);
  const fields = r.fields(0, source.length);
  const ir = last(fields, ModelField.irVersion);
  const g = last(fields, ModelField.graph);
  if (!ir || ir.wire !== Wire.Varint) throw new DecodeError('no ir_version field', 0);
  if (!g || g.wire !== Wire.Bytes) throw new DecodeError('no graph field', 0);
  // protobuf would merge a second graph into the first; onnxruntime would run both halves as one graph.
  const graphs = fields.filter((f) => f.no === ModelField.graph);
  if (graphs.length > 1) throw new DecodeError(`the model has ${graphs.length} graph fields; a model has one`, graphs[1].start);
  const opsets: { domain: string; version: number }[] = [];
  for (const f of fields) {
    if (f.no !== ModelField.opsetImport) continue;
    const kv = r.fields(f.valueStart, f.end);
    const d = last(kv, OpsetField.domain);
    const v = last(kv, OpsetField.version);
    opsets.push({ domain: d ? r.string(d) : '', version: v ? toInt64(v.value) : 0 });
  }
  const producerField = last(fields, ModelField.producerName);
  const external = new ExternalFiles(baseDir);
  let decoded: ReturnType<typeof decodeGraph>;
  try {
    decoded = decodeGraph(r, g, external);
  } catch (e) {
    // Data files opened before the decode failed are the caller's no longer.
    external.close();
    throw e;
  }
  return {
    path: source.name,
    source,
    modelFields: fields.map((f) => ({ no: f.no, part: rangeOf(source, f) })),
    graphFields: decoded.fields,
    valueInfo: decoded.valueInfo,
    ioInfo: decoded.ioInfo,
    graph: decoded.graph,
    irVersion: toInt64(ir.value),
    opsets,
    producer: producerField ? r.string(producerField) : '',
    dataFiles: external.paths,
    close: () => {
      external.close();
      source.close();
    },
  };
}

/**
 * The largest graphs read. A node read takes some 700 bytes with its value and links, however few
 * bytes it takes in the file (a 34-byte Relu), so a graph at these limits takes about 400 MB; the
 * models this tool converts have thousands of nodes. Past them a file is refused before its nodes are
 * decoded.
 */
export const MAX_NODES = 1 << 19;
export const MAX_VALUES = 1 << 20;

const tooLarge = (file: string, what: string) =>
  new UserError(`${file}: the graph has ${what}, more than this tool reads (${MAX_NODES} nodes, ${MAX_VALUES} values)`, { code: 'UNSUPPORTED' });

const FROM_GRAPH: ReadonlySet<number> = new Set([GraphField.node, GraphField.initializer, GraphField.input, GraphField.output, GraphField.valueInfo]);

/** A NodeProto as read: its body, and its fields only when a changed node is encoded again. */
class RawNode {
  constructor(
    private readonly r: ProtoReader,
    private readonly start: number,
    private readonly end: number,
  ) {}
  get body(): Part {
    return { kind: 'range', range: { source: this.r.source, offset: this.start, length: this.end - this.start } };
  }
  get fields(): { no: number; part: Part }[] {
    return this.r.fields(this.start, this.end).map((x) => ({ no: x.no, part: rangeOf(this.r.source, x) }));
  }
}

function decodeGraph(r: ProtoReader, g: Field, external: ExternalFiles) {
  const s = r.source;
  const fields = r.fields(g.valueStart, g.end);
  const graph = new Graph();
  const valueInfo = new Map<string, Part>();
  const ioInfo = new Map<string, Part>();
  // The fields the writer makes from the graph (nodes, initializers, inputs, outputs, value_info) are
  // kept once, where the first of their kind stood: a graph of a million nodes keeps one marker, not a
  // million ranges.
  const raw: RawField[] = [];
  const placed = new Set<number>();
  for (const f of fields) {
    if (FROM_GRAPH.has(f.no)) {
      if (placed.has(f.no)) continue;
      placed.add(f.no);
    }
    raw.push({ no: f.no, part: rangeOf(s, f) });
  }

  for (const f of fields) {
    if (f.no !== GraphField.initializer) continue;
    const t = readTensorProto(r, f.valueStart, f.end, external);
    if (graph.value(t.name)?.initializer) throw new DecodeError(`initializer ${printable(t.name)} appears twice`, f.start);
    const v = graph.ensureValue(t.name);
    v.initializer = { tensor: t.tensor, raw: t.external ? undefined : encodedPart(rangeOf(s, f)), keep: encodedParts(t.keep) };
  }
  for (const f of fields) {
    if (f.no === GraphField.input || f.no === GraphField.output || f.no === GraphField.valueInfo) {
      const { name, type } = readValueInfo(r, f);
      if (f.no === GraphField.valueInfo) {
        valueInfo.set(name, rangeOf(s, f));
        graph.ensureValue(name).type ??= type;
        continue;
      }
      ioInfo.set(name, rangeOf(s, f));
      if (f.no === GraphField.input) {
        const v = graph.ensureValue(name);
        v.type = type;
        graph.addGraphInput(v);
      }
    }
  }
  const interned = new Interned();
  const nodes = fields.filter((f) => f.no === GraphField.node);
  if (nodes.length > MAX_NODES) throw tooLarge(s.name, `${nodes.length} nodes`);
  for (const f of nodes) {
    readNode(r, f, graph, interned);
    if (graph.valueCount > MAX_VALUES) throw tooLarge(s.name, `more than ${MAX_VALUES} values`);
  }
  inDataflowOrder(graph, g.start);
  for (const f of fields) {
    if (f.no !== GraphField.output) continue;
    const { name, type } = readValueInfo(r, f);
    const v = graph.value(name);
    if (!v) throw new DecodeError(`graph output ${printable(name)} is produced by no node`, f.start);
    v.type ??= type;
    graph.addGraphOutput(v);
  }
  return { graph, fields: raw, valueInfo, ioInfo };
}

function readValueInfo(r: ProtoReader, f: Field): { name: string; type?: ValueType } {
  const fs = r.fields(f.valueStart, f.end);
  const n = last(fs, ValueInfoField.name);
  if (!n) throw new DecodeError('a graph input, output or value_info has no name', f.start);
  const t = last(fs, ValueInfoField.type);
  let type: ValueType | undefined;
  if (t) {
    const tt = last(r.fields(t.valueStart, t.end), TypeField.tensorType);
    if (tt) {
      const tf = r.fields(tt.valueStart, tt.end);
      const elem = last(tf, TensorTypeField.elemType);
      const shape = last(tf, TensorTypeField.shape);
      let dims: (number | string | undefined)[] | undefined;
      if (shape) {
        dims = r.fields(shape.valueStart, shape.end)
          .filter((d) => d.no === ShapeField.dim)
          .map((d) => {
            const df = r.fields(d.valueStart, d.end);
            const v = last(df, DimField.value);
            const p = last(df, DimField.param);
            return v ? toInt64(v.value) : p ? r.string(p) : undefined;
          });
      }
      type = { elemType: elem ? Number(elem.value) : undefined, dims };
    }
  }
  return { name: r.string(n), type };
}

/**
 * ONNX lists nodes in dataflow order, and the rules rely on it. A graph listed out of order is sorted
 * (stably: nodes already in order keep their places); a graph with a cycle is not a model.
 */
function inDataflowOrder(graph: Graph, at: number): void {
  const { order, stuck } = dataflowOrder(graph);
  if (stuck.length) throw new DecodeError(`the graph has a cycle through ${stuck.slice(0, 3).map((n) => printable(n.label, 80)).join(', ')}`, at);
  if (order !== graph.nodes) graph.setOrder(order);
}

/** Op types and domains repeat across a graph: one string each, not one per node. */
class Interned {
  private readonly known = new Map<string, string>();
  get(s: string): string {
    const k = this.known.get(s);
    if (k !== undefined) return k;
    if (this.known.size < 4096) this.known.set(s, s);
    return s;
  }
}

function readNode(r: ProtoReader, f: Field, graph: Graph, interned: Interned): void {
  // One pass over the fields, the last of each single field winning, as protobuf has it.
  let opType = '';
  let domain = '';
  let name = '';
  const inputs: (Value | null)[] = [];
  const outputs: Value[] = [];
  const attributes: Attribute[] = [];
  let captureNames: Set<string> | undefined;
  for (const x of r.fields(f.valueStart, f.end)) {
    switch (x.no) {
      case NodeField.input: {
        const n = r.string(x);
        inputs.push(n === '' ? null : graph.ensureValue(n));
        break;
      }
      case NodeField.output: {
        const n = r.string(x);
        outputs.push(n === '' ? graph.absentValue() : graph.ensureValue(n));
        break;
      }
      case NodeField.opType:
        opType = interned.get(r.string(x));
        break;
      case NodeField.domain:
        domain = interned.get(r.string(x));
        break;
      case NodeField.name:
        name = r.string(x);
        break;
      case NodeField.attribute: {
        const attr = readAttribute(r, x);
        attributes.push(attr);
        if (attr.value.type === 'opaque') for (const c of attr.value.captures) (captureNames ??= new Set()).add(c);
        break;
      }
    }
  }
  const node = new Node(opType, domain, name, attributes);
  node.raw = encodedNode(new RawNode(r, f.valueStart, f.end));
  if (node.domain === '' || node.domain === 'ai.onnx') checkArity(node, inputs.length, outputs.length, f.start);
  for (const o of outputs) {
    if (o.producer || o.initializer || graph.isGraphInput(o)) throw new DecodeError(`value ${printable(o.name)} is defined twice`, f.start);
  }
  const captures = captureNames ? [...captureNames].map((n) => graph.value(n)).filter((v): v is Value => !!v) : [];
  graph.appendNode(node, inputs, outputs, captures);
}

/** Input and output counts ONNX allows for the operators the rules rewrite (any opset), as [min, max]. */
const ARITY: Readonly<Record<string, { inputs: readonly [number, number]; outputs: readonly [number, number] }>> = {
  Conv: { inputs: [2, 3], outputs: [1, 1] },
  BatchNormalization: { inputs: [5, 5], outputs: [1, 5] },
  Add: { inputs: [2, 2], outputs: [1, 1] },
  Identity: { inputs: [1, 1], outputs: [1, 1] },
  Constant: { inputs: [0, 0], outputs: [1, 1] },
};

/** Every standard operator produces at least one output; those the rules rewrite are held to their exact counts. */
function checkArity(node: Node, inputs: number, outputs: number, at: number): void {
  const label = () => printable(node.label, 80);
  if (!outputs) throw new DecodeError(`node ${label()} has no outputs`, at);
  const a = ARITY[node.opType];
  if (!a) return;
  const range = ([lo, hi]: readonly [number, number]) => (lo === hi ? `${lo}` : `${lo} to ${hi}`);
  if (inputs < a.inputs[0] || inputs > a.inputs[1]) throw new DecodeError(`node ${label()} has ${inputs} inputs; ONNX's ${node.opType} takes ${range(a.inputs)}`, at);
  if (outputs > a.outputs[1]) throw new DecodeError(`node ${label()} has ${outputs} outputs; ONNX's ${node.opType} has ${range(a.outputs)}`, at);
}

function readAttribute(r: ProtoReader, f: Field): Attribute {
  const s = r.source;
  const fs = r.fields(f.valueStart, f.end);
  const nameField = last(fs, AttrField.name);
  if (!nameField) throw new DecodeError('an attribute has no name', f.start);
  const name = r.string(nameField);
  const typeField = last(fs, AttrField.type);
  let type = typeField ? Number(typeField.value) : 0;
  if (!type) {
    // IR versions before 2 had no type field: infer it from what is set.
    const has = (no: number) => fs.some((x) => x.no === no);
    type = has(AttrField.f) ? AttrType.FLOAT : has(AttrField.i) ? AttrType.INT : has(AttrField.s) ? AttrType.STRING
      : has(AttrField.t) ? AttrType.TENSOR : has(AttrField.g) ? AttrType.GRAPH : has(AttrField.floats) ? AttrType.FLOATS
      : has(AttrField.ints) ? AttrType.INTS : has(AttrField.strings) ? AttrType.STRINGS : 0;
  }
  // A value in a field of another type (ints under a FLOATS attribute) is a malformed model, as the ONNX checker says.
  for (const x of fs) {
    const held = VALUE_FIELD_TYPES.get(x.no);
    if (held !== undefined && held !== type) throw new DecodeError(`attribute ${printable(name)} is declared ${attrTypeName(type)} but its value is in the ${attrTypeName(held)} field`, x.start);
  }
  let value: AttributeValue;
  const need = (no: number) => {
    const x = last(fs, no);
    if (!x) throw new DecodeError(`attribute ${printable(name)} has no value`, f.start);
    return x;
  };
  switch (type) {
    case AttrType.INT:
      value = { type: 'int', value: toInt64(need(AttrField.i).value) };
      break;
    case AttrType.INTS:
      value = { type: 'ints', value: r.int64s(fs, AttrField.ints) };
      break;
    case AttrType.FLOAT:
      value = { type: 'float', value: fixed32ToFloat(need(AttrField.f).value) };
      break;
    case AttrType.FLOATS:
      value = { type: 'floats', value: r.floats(fs, AttrField.floats) };
      break;
    case AttrType.STRING:
      value = { type: 'string', value: r.string(need(AttrField.s)) };
      break;
    case AttrType.STRINGS:
      value = { type: 'strings', value: fs.filter((x) => x.no === AttrField.strings).map((x) => r.string(x)) };
      break;
    case AttrType.TENSOR: {
      const t = need(AttrField.t);
      // Constant tensors with external data are rare; they resolve like initializers would.
      value = { type: 'tensor', value: readTensorProto(r, t.valueStart, t.end, noExternal).tensor };
      break;
    }
    default: {
      const captures = new Set<string>();
      for (const x of fs) if (x.no === AttrField.g || x.no === AttrField.graphs) collectCaptures(r, x, captures, 0);
      value = { type: 'opaque', onnxType: type, captures: [...captures] };
    }
  }
  return { name, value, raw: encodedPart(rangeOf(s, f)) };
}

/** AttributeProto value fields and the AttributeType each belongs to (onnx.proto). */
const VALUE_FIELD_TYPES: ReadonlyMap<number, number> = new Map([
  [AttrField.f, 1], [AttrField.i, 2], [AttrField.s, 3], [AttrField.t, 4], [AttrField.g, 5], [AttrField.floats, 6], [AttrField.ints, 7],
  [AttrField.strings, 8], [AttrField.tensors, 9], [AttrField.graphs, 10], [22, 11], [23, 12], [14, 13], [15, 14],
]);

const ATTR_TYPE_NAMES = ['UNDEFINED', 'FLOAT', 'INT', 'STRING', 'TENSOR', 'GRAPH', 'FLOATS', 'INTS', 'STRINGS', 'TENSORS', 'GRAPHS', 'SPARSE_TENSOR', 'SPARSE_TENSORS', 'TYPE_PROTO', 'TYPE_PROTOS'];
const attrTypeName = (t: number): string => ATTR_TYPE_NAMES[t] ?? `type ${t}`;

const noExternal = {
  baseDir: '',
  openExternal(): never {
    throw new DecodeError('a Constant node tensor with external data is not supported', 0);
  },
};

/** Names a subgraph reads but does not define: they are uses of outer values. */
function collectCaptures(r: ProtoReader, g: Field, out: Set<string>, depth: number): void {
  if (depth > 32) throw new DecodeError('subgraphs nested too deeply', g.start);
  const fs = r.fields(g.valueStart, g.end);
  const defined = new Set<string>();
  const read: string[] = [];
  const inner = new Set<string>();
  for (const f of fs) {
    if (f.no === GraphField.input || f.no === GraphField.initializer) {
      const n = last(r.fields(f.valueStart, f.end), f.no === GraphField.input ? ValueInfoField.name : TensorField.name);
      if (n) defined.add(r.string(n));
    } else if (f.no === GraphField.node) {
      const nf = r.fields(f.valueStart, f.end);
      for (const x of nf) {
        if (x.no === NodeField.input) read.push(r.string(x));
        else if (x.no === NodeField.output) defined.add(r.string(x));
        else if (x.no === NodeField.attribute) {
          for (const a of r.fields(x.valueStart, x.end)) if (a.no === AttrField.g || a.no === AttrField.graphs) collectCaptures(r, a, inner, depth + 1);
        }
      }
    }
  }
  for (const n of [...read, ...inner]) if (n && !defined.has(n)) out.add(n);
}
