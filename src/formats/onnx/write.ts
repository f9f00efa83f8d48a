// Graph IR → ONNX bytes. Untouched messages are copied from the input as they were; only nodes whose
// links changed, new nodes and new initializers are encoded. The output is streamed front to back.
import * as fs from 'fs';
import { Attribute } from '../../ir/attribute';
import { Initializer, Node, Value } from '../../ir/graph';
import { UserError } from '../../errors';
import { StageOptions, StagedFile, stageFile } from '../atomic-file';
import { FileSink } from '../sink';
import { Wire } from '../protobuf/reader';
import { Message, Part, leaves, partSize, tag, varint } from '../protobuf/writer';
import { AttrField, AttrType, EntryField, GraphField, ModelField, NodeField, ValueInfoField } from './fields';
import { STAMP_KEY } from '../stamp';
import { samePath } from '../registry';
import { ExternalLayout, dataFileName, dataFilePath, stageModelWithData, useExternalData } from './external-data';
import { OnnxModel } from './read';
import { encodeTensorProto } from './tensor-proto';
import { nodeBytesOf, partOf, partsOf } from './encoded';

export interface EncodeOptions {
  /** Encodes an initializer's TensorProto another way (external data); undefined keeps the default. */
  readonly initializer?: (name: string, init: Initializer) => Message | undefined;
  /** A stamp (stamp.ts): a metadata_props entry after every other field. */
  readonly stamp?: string;
}

export function encodeModel(model: OnnxModel, options: EncodeOptions = {}): Message {
  const m = new Message();
  let graphDone = false;
  for (const f of model.modelFields) {
    if (f.no === ModelField.graph) {
      if (!graphDone) m.bytesField(ModelField.graph, encodeGraph(model, options));
      graphDone = true;
    } else m.add(f.part);
  }
  if (options.stamp !== undefined) m.bytesField(ModelField.metadataProps, new Message().stringField(EntryField.key, STAMP_KEY).stringField(EntryField.value, options.stamp));
  return m;
}

export function encodeGraph(model: OnnxModel, options: EncodeOptions = {}): Message {
  const g = model.graph;
  const m = new Message();
  const done = new Set<number>();
  const once = (no: number, emit: () => void) => {
    if (!done.has(no)) emit();
    done.add(no);
  };
  const emitNodes = () => m.add(nodeFields(g.nodes));
  const emitInits = () =>
    g.initializers().forEach((v) => {
      const init = v.initializer!;
      const custom = options.initializer?.(v.name, init);
      if (custom) m.bytesField(GraphField.initializer, custom);
      else if (init.raw) m.add(partOf(init.raw));
      else m.bytesField(GraphField.initializer, encodeTensorProto(v.name, init.tensor, partsOf(init.keep ?? [])));
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

/**
 * Every node as a NodeProto field, made while it is written, so that a graph of a million nodes is never
 * held as a million encoded parts: their sizes are summed first, then each node is encoded again as its
 * turn comes (a node read from the file is its range; encoding is deterministic).
 */
function nodeFields(nodes: readonly Node[]): Part {
  const order = [...nodes];
  let length = 0;
  for (const n of order) {
    const size = partSize(encodeNode(n));
    length += NODE_TAG.length + varint(size).length + size;
  }
  function* parts(): Iterable<Part> {
    for (const n of order) {
      const body = encodeNode(n);
      yield NODE_TAG;
      yield varint(partSize(body));
      yield body;
    }
  }
  return { kind: 'each', length, parts };
}

const NODE_TAG = tag(GraphField.node, Wire.Bytes);

export function encodeNode(n: Node): Part {
  const raw = n.raw && nodeBytesOf(n.raw);
  if (raw && !n.dirty) return raw.body;
  const m = new Message();
  const names = (vs: readonly (Value | null)[]) => vs.map((v) => (v && !v.absent ? v.name : ''));
  const emitInputs = () => names(n.inputs).forEach((s) => m.stringField(NodeField.input, s));
  const emitOutputs = () => names(n.outputs).forEach((s) => m.stringField(NodeField.output, s));
  if (raw) {
    let inputsDone = false;
    let outputsDone = false;
    if (!raw.fields.some((f) => f.no === NodeField.input)) {
      emitInputs();
      inputsDone = true;
    }
    for (const f of raw.fields) {
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
    if (a.raw) m.add(partOf(a.raw));
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
  sink.expect(sink.written + partSize(root));
  for (const leaf of leaves(root)) {
    if (leaf instanceof Uint8Array) sink.write(leaf);
    else if (leaf.kind === 'range') sink.copy(leaf.range);
    else {
      const before = sink.written;
      if (leaf.stream) leaf.stream((n, fill) => sink.fill(n, fill));
      else sink.write(leaf.produce());
      const n = sink.written - before;
      if (n !== leaf.length) throw new Error(`a computed payload has ${n} bytes, ${leaf.length} were announced`);
    }
  }
}

export interface WriteResult {
  readonly path: string;
  /** Bytes written, the data file's included. */
  readonly bytes: number;
  /** Set when tensors went to a data file beside the model. */
  readonly externalData?: { readonly path: string; readonly bytes: number; readonly tensors: number };
}

export interface WriteOnnxOptions extends StageOptions {
  /**
   * Put tensors of 1 KiB and more in "<model>.data" beside the model. Without it, that happens only when
   * the model would otherwise pass protobuf's 2 GiB limit.
   */
  readonly externalData?: boolean;
  /** A stamp (stamp.ts) as the model's last metadata_props entry. */
  readonly stamp?: string;
}

/** Writes the model to a staged file beside `target` (with its data file, if any); the caller commits (or aborts) it. */
export function stageOnnx(target: string, model: OnnxModel, options: WriteOnnxOptions = {}): StagedFile<WriteResult> {
  const inline = encodeModel(model, { stamp: options.stamp });
  const external = useExternalData(options.externalData, inline.size);
  refuseOverwritingInputs(external ? [target, dataFilePath(target)] : [target], model);
  if (!external) {
    return stageFile(
      target,
      (sink) => {
        streamParts(inline, sink);
        return { path: target, bytes: sink.written };
      },
      options,
    );
  }
  const layout = new ExternalLayout(dataFileName(target));
  const msg = encodeModel(model, { initializer: layout.initializer, stamp: options.stamp });
  return stageModelWithData(
    target,
    (sink) => {
      streamParts(layout.data(), sink);
      return sink.written;
    },
    (dataBytes) => (sink) => {
      streamParts(msg, sink);
      return { path: target, bytes: sink.written + dataBytes, externalData: { path: dataFilePath(target), bytes: dataBytes, tensors: layout.entries.length } };
    },
    options,
  );
}

/**
 * The output (and its data file) replace whatever has their names: never a file this model is read
 * from. An input's data file replaced would leave the input model pointing into the deploy model.
 */
function refuseOverwritingInputs(targets: readonly string[], model: OnnxModel): void {
  const sources = new Set([model.source.name, ...(model.dataFiles ?? [])]);
  for (const v of model.graph.initializers()) {
    const d = v.initializer!.tensor.data;
    if (d.kind === 'range') sources.add(d.range.source.name);
  }
  for (const t of targets) {
    for (const s of sources) {
      if (s && fs.existsSync(s) && samePath(s, t)) {
        const message = t === targets[0] ? `the output ${t} is a file the input model is read from` : `writing ${targets[0]} would replace ${t}, which the input model is read from`;
        throw new UserError(`${message}; refusing to overwrite it`, { code: 'BAD_USAGE', hint: 'write the output to another name or folder' });
      }
    }
  }
}

export function writeOnnx(target: string, model: OnnxModel, options: WriteOnnxOptions = {}): WriteResult {
  const s = stageOnnx(target, model, options);
  s.commit();
  return s.result;
}
