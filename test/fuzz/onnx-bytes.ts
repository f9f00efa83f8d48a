// ONNX models written byte by byte, for tests that need what the project's own writer would never make
// (a Loop with a subgraph, a ConstantOfShape of 16000 x 16000, a BatchNormalization whose statistics
// are shorter than its channels). Field numbers are onnx.proto's.
import { encodeVarint } from './protobuf-tree';

export const field = (no: number, payload: Uint8Array): Buffer => Buffer.concat([Uint8Array.from(encodeVarint(BigInt(no * 8 + 2))), Uint8Array.from(encodeVarint(BigInt(payload.length))), payload]);
export const varintField = (no: number, v: number | bigint): Uint8Array => Uint8Array.from([...encodeVarint(BigInt(no * 8)), ...encodeVarint(BigInt(v))]);
const s = (t: string) => Buffer.from(t);

export const FLOAT = 1;
export const INT64 = 7;
export const BOOL = 9;

/** A TensorProto with raw data. */
export function tensor(name: string, type: number, dims: readonly number[], raw: Uint8Array): Buffer {
  return Buffer.concat([...dims.map((d) => varintField(1, d)), varintField(2, type), field(8, s(name)), field(9, raw)]);
}

export const f32 = (...v: number[]): Uint8Array => new Uint8Array(Float32Array.from(v).buffer);
export const i64 = (...v: (number | bigint)[]): Uint8Array => new Uint8Array(BigInt64Array.from(v.map(BigInt)).buffer);

/** AttributeProto of each kind the tests use. */
export const attr = {
  int: (name: string, v: number) => field(5, Buffer.concat([field(1, s(name)), varintField(3, v), varintField(20, 2)])),
  ints: (name: string, v: readonly number[]) => field(5, Buffer.concat([field(1, s(name)), ...v.map((x) => varintField(8, x)), varintField(20, 7)])),
  tensor: (name: string, t: Buffer) => field(5, Buffer.concat([field(1, s(name)), field(5, t), varintField(20, 4)])),
  graph: (name: string, g: Buffer) => field(5, Buffer.concat([field(1, s(name)), field(6, g), varintField(20, 5)])),
};

export function node(op: string, inputs: readonly string[], outputs: readonly string[], ...attributes: Buffer[]): Buffer {
  return namedNode('', op, inputs, outputs, ...attributes);
}

/** A node with a name (none when empty). */
export function namedNode(name: string, op: string, inputs: readonly string[], outputs: readonly string[], ...attributes: Buffer[]): Buffer {
  return field(1, Buffer.concat([...inputs.map((i) => field(1, s(i))), ...outputs.map((o) => field(2, s(o))), ...(name ? [field(3, s(name))] : []), field(4, s(op)), ...attributes]));
}

/** A ValueInfoProto of a tensor; dims omitted: rank and sizes unknown. */
export function valueInfo(name: string, type: number, dims?: readonly number[]): Buffer {
  const shape = dims ? field(2, Buffer.concat(dims.map((d) => field(1, varintField(1, d))))) : Buffer.alloc(0);
  return Buffer.concat([field(1, s(name)), field(2, field(1, Buffer.concat([varintField(1, type), shape])))]);
}

export interface GraphParts {
  readonly nodes: readonly Buffer[];
  readonly initializers?: readonly Buffer[];
  readonly inputs: readonly Buffer[];
  readonly outputs: readonly Buffer[];
}

/** A GraphProto (without its framing). */
export function graph(g: GraphParts, name = 'g'): Buffer {
  return Buffer.concat([...g.nodes, field(2, s(name)), ...(g.initializers ?? []).map((t) => field(5, t)), ...g.inputs.map((i) => field(11, i)), ...g.outputs.map((o) => field(12, o))]);
}

/** A ModelProto around a graph, IR version 8, opset 13 (and version 1 of each of `domains`). */
export function model(g: GraphParts, meta: { producer?: string; graphName?: string; domains?: readonly string[] } = {}): Buffer {
  const opset = (domain: string, version: number) => field(8, Buffer.concat([field(1, s(domain)), varintField(2, version)]));
  return Buffer.concat([
    varintField(1, 8),
    ...(meta.producer !== undefined ? [field(2, s(meta.producer))] : []),
    field(7, graph(g, meta.graphName)),
    opset('', 13),
    ...(meta.domains ?? []).map((d) => opset(d, 1)),
  ]);
}
