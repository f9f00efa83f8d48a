// A new ONNX model around a graph built in memory (e.g. from checkpoint weights), written by the same
// encoder as models read from files.
import { Graph } from '../../ir/graph';
import { BufferSource } from '../bytes';
import { Message, Part } from '../protobuf/writer';
import { DimField, GraphField, ModelField, OpsetField, ShapeField, TensorTypeField, TypeField, ValueInfoField } from './fields';
import { OnnxModel, RawField } from './read';

export interface TensorSignature {
  readonly name: string;
  /** TensorProto.DataType, e.g. 1 for float32. */
  readonly elemType: number;
  /** Numbers for fixed dims, strings for named dynamic ones. */
  readonly dims: readonly (number | string)[];
}

export interface NewModelOptions {
  readonly graphName: string;
  readonly opset: number;
  readonly irVersion?: number;
  readonly producerName?: string;
  readonly producerVersion?: string;
  readonly inputs: readonly TensorSignature[];
  readonly outputs: readonly TensorSignature[];
  /** model metadata_props */
  readonly metadata?: Readonly<Record<string, string>>;
}

/** IR version that goes with an opset (onnx/helper's table, for the opsets this tool writes). */
export function irVersionForOpset(opset: number): number {
  if (opset <= 8) return 3;
  if (opset <= 10) return 5;
  if (opset <= 11) return 6;
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

export function valueInfo(sig: TensorSignature): Message {
  const shape = new Message();
  for (const d of sig.dims) {
    const dim = new Message();
    if (typeof d === 'number') dim.varintField(DimField.value, d);
    else dim.stringField(DimField.param, d);
    shape.bytesField(ShapeField.dim, dim);
  }
  const tensorType = new Message().varintField(TensorTypeField.elemType, sig.elemType).bytesField(TensorTypeField.shape, shape);
  return new Message().stringField(ValueInfoField.name, sig.name).bytesField(2, new Message().bytesField(TypeField.tensorType, tensorType));
}

export function newOnnxModel(graph: Graph, o: NewModelOptions): OnnxModel {
  const field = (no: number, build: (m: Message) => void): RawField => {
    const m = new Message();
    build(m);
    return { no, part: m };
  };
  const ioInfo = new Map<string, Part>();
  for (const s of o.inputs) ioInfo.set(s.name, new Message().bytesField(GraphField.input, valueInfo(s)));
  for (const s of o.outputs) ioInfo.set(s.name, new Message().bytesField(GraphField.output, valueInfo(s)));
  // The graph's values carry the same types, as they would when read from a file.
  for (const s of [...o.inputs, ...o.outputs]) {
    const v = graph.value(s.name);
    if (v) v.type = { elemType: s.elemType, dims: s.dims };
  }
  const marker = (no: number): RawField => ({ no, part: new Uint8Array(0) });
  const graphFields: RawField[] = [
    marker(GraphField.node),
    field(GraphField.name, (m) => m.stringField(GraphField.name, o.graphName)),
    marker(GraphField.initializer),
    marker(GraphField.input),
    marker(GraphField.output),
  ];
  const modelFields: RawField[] = [
    field(ModelField.irVersion, (m) => m.varintField(ModelField.irVersion, o.irVersion ?? irVersionForOpset(o.opset))),
    field(ModelField.producerName, (m) => m.stringField(ModelField.producerName, o.producerName ?? 'repvgg-convert')),
    ...(o.producerVersion ? [field(ModelField.producerVersion, (m) => m.stringField(ModelField.producerVersion, o.producerVersion!))] : []),
    marker(ModelField.graph),
    field(ModelField.opsetImport, (m) => m.bytesField(ModelField.opsetImport, new Message().stringField(OpsetField.domain, '').varintField(OpsetField.version, o.opset))),
    ...Object.entries(o.metadata ?? {}).map(([k, v]) => field(ModelField.metadataProps, (m) => m.bytesField(ModelField.metadataProps, new Message().stringField(1, k).stringField(2, v)))),
  ];
  return {
    path: '',
    source: new BufferSource('(built in memory)', new Uint8Array(0)),
    modelFields,
    graphFields,
    valueInfo: new Map(),
    ioInfo,
    graph,
    irVersion: o.irVersion ?? irVersionForOpset(o.opset),
    opsets: [{ domain: '', version: o.opset }],
    producer: o.producerName ?? 'repvgg-convert',
    close: () => {},
  };
}
