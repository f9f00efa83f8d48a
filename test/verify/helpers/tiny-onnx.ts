// Builds tiny single-purpose ONNX models in memory (a few elementwise nodes), for tests about
// interfaces: output names, shapes, dtypes, dynamic dims.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Message } from '../../../src/formats/protobuf/writer';
import { messageBytes } from '../../../src/verify/probe-model';

export const FLOAT = 1;
export const INT64 = 7;
export const DOUBLE = 11;

export interface TinyValue {
  readonly name: string;
  readonly elemType?: number; // default FLOAT
  /** Numbers are fixed dims, strings are dim_params. */
  readonly dims: readonly (number | string)[];
}

export interface TinyNode {
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  /** Integer attributes, e.g. { to: 11 } for Cast. */
  readonly ints?: Readonly<Record<string, number>>;
}

export interface TinyModel {
  readonly inputs: readonly TinyValue[];
  readonly outputs: readonly TinyValue[];
  readonly nodes: readonly TinyNode[];
}

function valueInfo(v: TinyValue): Message {
  const shape = new Message();
  for (const d of v.dims) shape.bytesField(1, typeof d === 'number' ? new Message().varintField(1, d) : new Message().stringField(2, d));
  const tensorType = new Message().varintField(1, v.elemType ?? FLOAT).bytesField(2, shape);
  return new Message().stringField(1, v.name).bytesField(2, new Message().bytesField(1, tensorType));
}

export function tinyModel(m: TinyModel): Uint8Array {
  const graph = new Message();
  for (const n of m.nodes) {
    const node = new Message();
    for (const i of n.inputs) node.stringField(1, i);
    for (const o of n.outputs) node.stringField(2, o);
    node.stringField(4, n.op);
    for (const [name, value] of Object.entries(n.ints ?? {})) {
      node.bytesField(5, new Message().stringField(1, name).varintField(3, value).varintField(20, 2)); // type INT
    }
    graph.bytesField(1, node);
  }
  graph.stringField(2, 'tiny');
  for (const i of m.inputs) graph.bytesField(11, valueInfo(i));
  for (const o of m.outputs) graph.bytesField(12, valueInfo(o));
  const opset = new Message().stringField(1, '').varintField(2, 13);
  return messageBytes(new Message().varintField(1, 8).bytesField(7, graph).bytesField(8, opset));
}

/** A fresh temporary folder, removed by the returned cleanup. */
export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'repvgg-verify-'));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Writes a tiny model into `dir` and returns its path. */
export function writeTiny(dir: string, name: string, m: TinyModel): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, tinyModel(m));
  return file;
}

/** x -> op -> y with one float input and output of the given dims. */
export function unary(op: string, dims: readonly (number | string)[], names = { x: 'x', y: 'y' }, outDims = dims): TinyModel {
  return {
    inputs: [{ name: names.x, dims }],
    outputs: [{ name: names.y, dims: outDims }],
    nodes: [{ op, inputs: [names.x], outputs: [names.y] }],
  };
}
