// ONNX model → Graph IR. Only what the rules need is decoded; every other field is kept as a range of
// the file and written back as it was, so fields newer than this reader survive a round trip.
import * as path from 'path';
import { DecodeError, FormatError } from '../../errors';
import { Attribute, AttributeValue } from '../../ir/attribute';
import { Graph, Node, Value, ValueType } from '../../ir/graph';
import { ByteSource, FileSource } from '../bytes';
import { Field, ProtoReader, Wire, fixed32ToFloat, last, toInt64 } from '../protobuf/reader';
import { Part } from '../protobuf/writer';
import { AttrField, AttrType, DimField, GraphField, ModelField, NodeField, OpsetField, ShapeField, TensorField, TensorTypeField, TypeField, ValueInfoField } from './fields';
import { ExternalFiles, readTensorProto } from './tensor-proto';

export interface RawField {
  readonly no: number;
  readonly part: Part;
}

export interface OnnxModel {
  readonly path: string;
  readonly source: ByteSource;
  /** Model-level fields in file order; the graph field is re-encoded from `graph`. Model passes may edit it. */
  readonly modelFields: RawField[];
  /** Graph-level fields in file order; node, initializer, input, output and value_info come from `graph`. */
  readonly graphFields: readonly RawField[];
  /** value_info entries by value name, kept while the value exists. */
  readonly valueInfo: Map<string, Part>;
  /** Graph input/output ValueInfoProtos (whole fields) by name; passes that retype the interface replace them. */
  readonly ioInfo: Map<string, Part>;
  readonly graph: Graph;
  readonly irVersion: number;
  readonly opsets: readonly { readonly domain: string; readonly version: number }[];
  readonly producer: string;
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
  const decoded = decodeGraph(r, g, external);
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
    close: () => {
      external.close();
      source.close();
    },
  };
}

function decodeGraph(r: ProtoReader, g: Field, external: ExternalFiles) {
  const s = r.source;
  const fields = r.fields(g.valueStart, g.end);
  const graph = new Graph();
  const valueInfo = new Map<string, Part>();
  const ioInfo = new Map<string, Part>();
  const raw: RawField[] = [];
  for (const f of fields) raw.push({ no: f.no, part: rangeOf(s, f) });

  for (const f of fields) {
    if (f.no !== GraphField.initializer) continue;
    const t = readTensorProto(r, f.valueStart, f.end, external);
    if (graph.value(t.name)?.initializer) throw new DecodeError(`initializer ${t.name} appears twice`, f.start);
    const v = graph.ensureValue(t.name);
    v.initializer = { tensor: t.tensor, raw: t.external ? undefined : rangeOf(s, f), keep: t.keep };
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
  for (const f of fields) if (f.no === GraphField.node) readNode(r, f, graph);
  for (const f of fields) {
    if (f.no !== GraphField.output) continue;
    const { name, type } = readValueInfo(r, f);
    const v = graph.value(name);
    if (!v) throw new DecodeError(`graph output ${name} is produced by no node`, f.start);
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

function readNode(r: ProtoReader, f: Field, graph: Graph): void {
  const s = r.source;
  const fs = r.fields(f.valueStart, f.end);
  const strings = (no: number) => fs.filter((x) => x.no === no).map((x) => r.string(x));
  const one = (no: number) => {
    const x = last(fs, no);
    return x ? r.string(x) : '';
  };
  const attributes: Attribute[] = [];
  const captureNames = new Set<string>();
  for (const a of fs) {
    if (a.no !== NodeField.attribute) continue;
    const attr = readAttribute(r, a);
    attributes.push(attr);
    if (attr.value.type === 'opaque') attr.value.captures.forEach((c) => captureNames.add(c));
  }
  const node = new Node(one(NodeField.opType), one(NodeField.domain), one(NodeField.name), attributes);
  node.raw = { body: { kind: 'range', range: { source: s, offset: f.valueStart, length: f.end - f.valueStart } }, fields: fs.map((x) => ({ no: x.no, part: rangeOf(s, x) })) };
  const inputs = strings(NodeField.input).map((n) => (n === '' ? null : graph.ensureValue(n)));
  const outputs = strings(NodeField.output).map((n) => graph.ensureValue(n));
  for (const o of outputs) {
    if (o.producer || o.initializer || graph.inputs.includes(o)) throw new DecodeError(`value ${o.name} is defined twice`, f.start);
  }
  const captures = [...captureNames].map((n) => graph.value(n)).filter((v): v is Value => !!v);
  graph.appendNode(node, inputs, outputs, captures);
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
  let value: AttributeValue;
  const need = (no: number) => {
    const x = last(fs, no);
    if (!x) throw new DecodeError(`attribute ${name} has no value`, f.start);
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
  return { name, value, raw: rangeOf(s, f) };
}

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
