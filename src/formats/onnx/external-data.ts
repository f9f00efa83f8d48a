// Writing ONNX models with external data: tensors of 1 KiB and more go to one data file beside the model
// ("deploy.onnx" → "deploy.onnx.data"), each at a 4096-aligned offset (so onnxruntime can map them), and
// their TensorProtos say data_location=EXTERNAL with {location, offset, length}. Needed past protobuf's
// 2 GiB message limit, or asked for.
//
// Both files are staged in a temporary folder beside the target, under their final names, so the staged
// model finds its data exactly as the committed one will (verification loads it from there). Commit
// moves the data file, then the model, into place; abort removes the folder.
import * as fs from 'fs';
import * as path from 'path';
import { dtypeInfo } from '../../dtype';
import { Initializer } from '../../ir/graph';
import { byteLength } from '../../tensor';
import { StageOptions, StagedFile, checkOutputPath, noteCommitted, stageFile, stagingStem, syncFolder, trackStaged, writeFailure } from '../atomic-file';
import { Message, Part } from '../protobuf/writer';
import { FileSink } from '../sink';
import { stagingName } from '../stale-staging';
import { TensorField } from './fields';
import { tensorPayload } from './tensor-proto';
import { partsOf } from './encoded';

/** protobuf refuses messages of 2 GiB or more. */
export const PROTOBUF_LIMIT = 2 ** 31 - 1;
/** Data offsets are multiples of this (the page size onnxruntime maps external data at). */
export const EXTERNAL_ALIGNMENT = 4096;
/** Smaller tensors (shapes, small biases) stay in the model, as onnx's own writer does by default. */
export const INLINE_BELOW = 1024;

const DATA_LOCATION_EXTERNAL = 1;

/** The data file's name for a model written to `target`: "<model file name>.data". */
export function dataFileName(target: string): string {
  return `${path.basename(target)}.data`;
}

/** The data file's path beside `target` (relative when `target` is). */
export function dataFilePath(target: string): string {
  return path.join(path.dirname(target), dataFileName(target));
}

/** External data when asked for, and always when the model would not fit one protobuf message. */
export function useExternalData(requested: boolean | undefined, inlineBytes: number): boolean {
  return requested === true || inlineBytes > PROTOBUF_LIMIT;
}

export interface ExternalEntry {
  readonly name: string;
  readonly offset: number;
  readonly length: number;
  readonly payload: Part;
}

/** Where each large initializer goes in the data file, decided while the graph is encoded. */
export class ExternalLayout {
  readonly entries: ExternalEntry[] = [];
  private end = 0;

  constructor(readonly location: string) {}

  /** The data file's size. */
  get size(): number {
    return this.end;
  }

  /** For encodeModel: the TensorProto of a large initializer, pointing into the data file; undefined keeps it inline. */
  initializer = (name: string, init: Initializer): Message | undefined => {
    const length = byteLength(init.tensor);
    if (length < INLINE_BELOW) return undefined;
    const offset = alignUp(this.end, EXTERNAL_ALIGNMENT);
    this.entries.push({ name, offset, length, payload: tensorPayload(init.tensor) });
    this.end = offset + length;
    return externalTensorProto(name, init, { location: this.location, offset, length });
  };

  /** The data file's contents: payloads in offset order, zeros between them. */
  data(): Message {
    const m = new Message();
    let at = 0;
    for (const e of this.entries) {
      if (e.offset > at) m.add(new Uint8Array(e.offset - at));
      m.add(e.payload);
      at = e.offset + e.length;
    }
    return m;
  }
}

/** A TensorProto whose data lives in an external file (dims, type, name, then the external fields). */
export function externalTensorProto(name: string, init: Initializer, where: { location: string; offset: number; length: number }): Message {
  const t = init.tensor;
  const m = new Message();
  m.packedInt64Field(TensorField.dims, t.shape);
  m.varintField(TensorField.dataType, dtypeInfo(t.dtype).onnx);
  m.stringField(TensorField.name, name);
  for (const [k, v] of [['location', where.location], ['offset', String(where.offset)], ['length', String(where.length)]]) {
    m.bytesField(TensorField.externalData, new Message().stringField(1, k).stringField(2, v));
  }
  m.varintField(TensorField.dataLocation, DATA_LOCATION_EXTERNAL);
  m.add(...partsOf(init.keep ?? []));
  return m;
}

function alignUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

export interface StagedPair<T> extends StagedFile<T> {
  /** The staged data file (beside `tmp`, under its final name). */
  readonly dataTmp: string;
  /** Where the data file goes on commit. */
  readonly dataTarget: string;
}

/**
 * Stages a model and its data file in a temporary folder beside `target`, both synced. `writeData` runs
 * first (it lays the tensors out), then `writeModel`.
 */
export function stageModelWithData<T>(
  target: string,
  writeData: (sink: FileSink) => number,
  writeModel: (dataBytes: number) => (sink: FileSink) => T,
  options: StageOptions = {},
): StagedPair<T> {
  const dir = path.dirname(path.resolve(target));
  const dataTarget = dataFilePath(target);
  checkOutputPath(target);
  checkOutputPath(dataTarget);
  const folder = path.join(dir, stagingName(stagingStem(target), 'staging'));
  try {
    fs.mkdirSync(folder, { mode: 0o700 });
  } catch (e) {
    throw writeFailure(e, target);
  }
  const release = trackStaged(folder);
  const discard = () => {
    fs.rmSync(folder, { recursive: true, force: true });
    release();
  };
  try {
    // Both files are committed into the folder at once: synced now, not later.
    const data = stageFile(path.join(folder, path.basename(dataTarget)), writeData, { ...options, syncLater: false, label: dataTarget });
    data.commit();
    const model = stageFile(path.join(folder, path.basename(target)), writeModel(data.result), { ...options, syncLater: false, label: target });
    model.commit();
    return {
      tmp: model.target,
      target,
      dataTmp: data.target,
      dataTarget,
      result: model.result,
      commit() {
        // Data first: the model that names it only appears once it is in place.
        try {
          fs.renameSync(data.target, dataTarget);
          fs.renameSync(model.target, target);
          syncFolder(dir);
        } catch (e) {
          throw writeFailure(e, target);
        }
        noteCommitted(dataTarget);
        noteCommitted(target);
        discard();
      },
      abort: discard,
    };
  } catch (e) {
    discard();
    throw e;
  }
}
