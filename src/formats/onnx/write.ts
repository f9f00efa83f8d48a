// Graph IR → ONNX bytes. Untouched messages are copied from the input as they were; only nodes whose
// links changed, new nodes and new initializers are encoded. The output is streamed front to back.
import { Attribute } from '../../ir/attribute';
import { Node, Value } from '../../ir/graph';
import { StagedFile, stageFile } from '../atomic-file';
import { FileSink } from '../sink';
import { Message, Part, leaves } from '../protobuf/writer';
import { AttrField, AttrType, GraphField, ModelField, NodeField, ValueInfoField } from './fields';
import { OnnxModel } from './read';
import { encodeTensorProto } from './tensor-proto';

export function encodeModel(model: OnnxModel): Message {
  const m = new Message();
  let graphDone = false;
  for (const f of model.modelFields) {
    if (f.no === ModelField.graph) {
      if (!graphDone) m.bytesField(ModelField.graph, encodeGraph(model));
      graphDone = true;
    } else m.add(f.part);
  }
  return m;
}

export function encodeGraph(model: OnnxModel): Message {
  const g = model.graph;
  const m = new Message();
  const done = new Set<number>();
  const once = (no: number, emit: () => void) => {
    if (!done.has(no)) emit();
    done.add(no);
  };
  const emitNodes = () => g.nodes.forEach((n) => m.bytesField(GraphField.node, encodeNode(n)));
  const emitInits = () =>
    g.initializers().forEach((v) => {
      const init = v.initializer!;
      if (init.raw) m.add(init.raw);
      else m.bytesField(GraphField.initializer, encodeTensorProto(v.name, init.tensor, init.keep));
    });
  const emitIo = (no: number, values: readonly Value[]) =>
    values.forEach((v) => {
      const raw = model.ioInfo.get(v.name);
      if (raw) m.add(raw);
      else m.bytesField(no, new Message().stringField(ValueInfoField.name, v.name));
    });
  for (const f of model.graphFields) {
    switch (f.no) {
      case GraphField.node:
        once(f.no, emitNodes);
        break;
      case GraphField.initializer:
        once(f.no, emitInits);
        break;
      case GraphField.input:
        once(f.no, () => emitIo(GraphField.input, g.inputs));
        break;
      case GraphField.output:
        once(f.no, () => emitIo(GraphField.output, g.outputs));
        break;
      case GraphField.valueInfo:
        once(f.no, () => {
          for (const [name, part] of model.valueInfo) if (g.value(name)) m.add(part);
        });
        break;
      default:
        m.add(f.part);
    }
  }
  once(GraphField.node, emitNodes);
  once(GraphField.initializer, emitInits);
  return m;
}

export function encodeNode(n: Node): Part {
  if (n.raw && !n.dirty) return n.raw.body;
  const m = new Message();
  const names = (vs: readonly (Value | null)[]) => vs.map((v) => (v ? v.name : ''));
  const emitInputs = () => names(n.inputs).forEach((s) => m.stringField(NodeField.input, s));
  const emitOutputs = () => names(n.outputs).forEach((s) => m.stringField(NodeField.output, s));
  if (n.raw) {
    let inputsDone = false;
    let outputsDone = false;
    if (!n.raw.fields.some((f) => f.no === NodeField.input)) {
      emitInputs();
      inputsDone = true;
    }
    for (const f of n.raw.fields) {
      if (f.no === NodeField.input) {
        if (!inputsDone) emitInputs();
        inputsDone = true;
      } else if (f.no === NodeField.output) {
        if (!outputsDone) emitOutputs();
        outputsDone = true;
      } else m.add(f.part);
    }
    if (!outputsDone) emitOutputs();
    return m;
  }
  emitInputs();
  emitOutputs();
  if (n.name) m.stringField(NodeField.name, n.name);
  m.stringField(NodeField.opType, n.opType);
  for (const a of n.attributes.values()) {
    if (a.raw) m.add(a.raw);
    else m.bytesField(NodeField.attribute, encodeAttribute(a));
  }
  if (n.domain) m.stringField(NodeField.domain, n.domain);
  return m;
}

export function encodeAttribute(a: Attribute): Message {
  const m = new Message().stringField(AttrField.name, a.name);
  const v = a.value;
  switch (v.type) {
    case 'int':
      m.varintField(AttrField.i, v.value).varintField(AttrField.type, AttrType.INT);
      break;
    case 'ints':
      for (const x of v.value) m.varintField(AttrField.ints, x);
      m.varintField(AttrField.type, AttrType.INTS);
      break;
    case 'float':
      m.floatField(AttrField.f, v.value).varintField(AttrField.type, AttrType.FLOAT);
      break;
    case 'floats':
      for (const x of v.value) m.floatField(AttrField.floats, x);
      m.varintField(AttrField.type, AttrType.FLOATS);
      break;
    case 'string':
      m.stringField(AttrField.s, v.value).varintField(AttrField.type, AttrType.STRING);
      break;
    case 'strings':
      for (const x of v.value) m.stringField(AttrField.strings, x);
      m.varintField(AttrField.type, AttrType.STRINGS);
      break;
    case 'tensor':
      m.bytesField(AttrField.t, encodeTensorProto('', v.value)).varintField(AttrField.type, AttrType.TENSOR);
      break;
    case 'opaque':
      throw new Error(`attribute ${a.name} of ONNX type ${v.onnxType} cannot be re-encoded without its original bytes`);
  }
  return m;
}

/** Writes every leaf of a part tree in order. */
export function streamParts(root: Part, sink: FileSink): void {
  for (const leaf of leaves(root)) {
    if (leaf instanceof Uint8Array) sink.write(leaf);
    else if (leaf.kind === 'range') sink.copy(leaf.range);
    else {
      const b = leaf.produce();
      if (b.length !== leaf.length) throw new Error(`a computed payload has ${b.length} bytes, ${leaf.length} were announced`);
      sink.write(b);
    }
  }
}

export interface WriteResult {
  readonly path: string;
  readonly bytes: number;
}

/** Writes the model to a staged file beside `target`; the caller commits (or aborts) it. */
export function stageOnnx(target: string, model: OnnxModel): StagedFile<WriteResult> {
  const msg = encodeModel(model);
  return stageFile(target, (sink) => {
    streamParts(msg, sink);
    return { path: target, bytes: sink.written };
  });
}

export function writeOnnx(target: string, model: OnnxModel): WriteResult {
  const s = stageOnnx(target, model);
  s.commit();
  return s.result;
}
