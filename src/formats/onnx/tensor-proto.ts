// TensorProto in and out. Reading keeps the data where it is: raw_data and packed float_data become
// ranges of the model file, external data a range of its own file; only varint-coded data is decoded.
import { DType, dtypeFromOnnx, dtypeInfo, numel } from '../../dtype';
import { DecodeError, UserError } from '../../errors';
import { Tensor, byteLength, streamLazyInto, tensorBytes } from '../../tensor';
import { ByteSource } from '../bytes';
import { externalNumber, openDataFile, realFolder } from './data-location';
import { printable } from '../printable';
import { Field, ProtoReader, Wire, first, last } from '../protobuf/reader';
import { Message, Part } from '../protobuf/writer';
import { EntryField, TensorField } from './fields';

export interface ReadTensorContext {
  /** Folder that external data locations are relative to. */
  readonly baseDir: string;
  /** Opens (and caches) an external data file; `label` names the tensor in messages. */
  openExternal(location: string, label: string): ByteSource;
}

export interface ReadTensor {
  readonly name: string;
  readonly tensor: Tensor;
  /** Fields other than data, dims, type and name, to keep on re-encode. */
  readonly keep: Part[];
  readonly external: boolean;
}

const DATA_FIELDS: ReadonlySet<number> = new Set([
  TensorField.dims, TensorField.dataType, TensorField.name, TensorField.rawData, TensorField.floatData,
  TensorField.int32Data, TensorField.int64Data, TensorField.doubleData, TensorField.uint64Data,
  TensorField.externalData, TensorField.dataLocation,
]);

export function readTensorProto(r: ProtoReader, start: number, end: number, ctx: ReadTensorContext): ReadTensor {
  const fields = r.fields(start, end);
  const nameField = last(fields, TensorField.name);
  const name = nameField ? r.string(nameField) : '';
  const dims = r.int64s(fields, TensorField.dims);
  const typeField = last(fields, TensorField.dataType);
  const code = typeField ? Number(typeField.value) : 0;
  const info = dtypeFromOnnx(code);
  const label = name ? printable(name) : `tensor at byte ${start}`;
  if (!info) throw new UserError(`${label} has ONNX data type ${code}, which this tool does not handle`, { code: 'UNSUPPORTED' });
  let n: number;
  try {
    n = numel(dims);
  } catch (e) {
    throw new DecodeError(`${label}: ${printable((e as Error).message, 160)}`, start);
  }
  const want = n * info.size;
  const keep = fields.filter((f) => !DATA_FIELDS.has(f.no)).map((f): Part => ({ kind: 'range', range: { source: r.source, offset: f.start, length: f.end - f.start } }));
  const shape: readonly number[] = dims;
  const location = last(fields, TensorField.dataLocation);
  if (location && location.value === 1n) {
    return { name, tensor: externalTensor(r, fields, ctx, info.dtype, shape, want, label), keep, external: true };
  }
  const raw = last(fields, TensorField.rawData);
  if (raw) {
    const len = raw.end - raw.valueStart;
    if (len !== want) throw new DecodeError(`${label}: raw_data holds ${len} bytes, shape ${printable(`[${dims}]`, 60)} of ${info.dtype} needs ${want}`, raw.start);
    return { name, tensor: { dtype: info.dtype, shape, data: { kind: 'range', range: { source: r.source, offset: raw.valueStart, length: len } } }, keep, external: false };
  }
  return { name, tensor: typedDataTensor(r, fields, info.dtype, shape, n, label, start), keep, external: false };
}

function externalTensor(r: ProtoReader, fields: readonly Field[], ctx: ReadTensorContext, dtype: DType, shape: readonly number[], want: number, label: string): Tensor {
  const entries = new Map<string, string>();
  for (const f of fields) {
    if (f.no !== TensorField.externalData) continue;
    const kv = r.fields(f.valueStart, f.end);
    const k = first(kv, EntryField.key);
    const v = first(kv, EntryField.value);
    if (!k) continue;
    const key = r.string(k);
    if (entries.has(key)) throw new DecodeError(`${label}: external data key ${printable(key, 40)} appears twice`, f.start);
    entries.set(key, v ? r.string(v) : '');
  }
  const location = entries.get('location');
  if (location === undefined) throw new DecodeError(`${label}: external data without a location`, fields[0]?.start ?? 0);
  const number = (key: string, absent: number): number => {
    const text = entries.get(key);
    if (text === undefined) return absent;
    const n = externalNumber(text);
    if (n === undefined) throw new DecodeError(`${label}: external data ${key} "${printable(text, 40)}" is not a decimal byte count`, fields[0]?.start ?? 0);
    return n;
  };
  const offset = number('offset', 0);
  const length = number('length', want);
  if (length !== want) throw new UserError(`${label}: external data length ${length} does not fit shape [${shape}] of ${dtype} (${want} bytes)`);
  const source = ctx.openExternal(location, label);
  if (offset + length > source.length) {
    throw new UserError(`${label}: external data [${offset}, ${offset + length}) is past the end of ${printable(location)} (${source.length} bytes)`);
  }
  return { dtype, shape, data: { kind: 'range', range: { source, offset, length } } };
}

function typedDataTensor(r: ProtoReader, fields: readonly Field[], dtype: DType, shape: readonly number[], n: number, label: string, at: number): Tensor {
  if (n === 0) return { dtype, shape, data: { kind: 'memory', bytes: new Uint8Array(0) } };
  let bytes = new Uint8Array(0);
  let dv = new DataView(bytes.buffer);
  // The values are counted before the buffer is made: dims alone must not decide an allocation.
  const count = (k: number) => {
    if (k !== n) throw new DecodeError(`${label}: holds ${k} values, shape ${printable(`[${shape}]`, 60)} needs ${n}`, at);
    bytes = new Uint8Array(n * dtypeInfo(dtype).size);
    dv = new DataView(bytes.buffer);
  };
  if (dtype === 'float32') {
    const packed = fields.filter((f) => f.no === TensorField.floatData);
    // A single packed float_data field is already the little-endian bytes: keep it as a range.
    if (packed.length === 1 && packed[0].wire === Wire.Bytes && packed[0].end - packed[0].valueStart === n * 4) {
      return { dtype, shape, data: { kind: 'range', range: { source: r.source, offset: packed[0].valueStart, length: n * 4 } } };
    }
    const vals = r.floats(fields, TensorField.floatData);
    count(vals.length);
    vals.forEach((v, i) => dv.setFloat32(4 * i, v, true));
  } else if (dtype === 'float64') {
    const vals: number[] = [];
    for (const f of fields) {
      if (f.no !== TensorField.doubleData) continue;
      if (f.wire === Wire.Fixed64) vals.push(new Float64Array(new BigUint64Array([f.value]).buffer)[0]);
      else {
        const b = r.bytes(f);
        const d = new DataView(b.buffer, b.byteOffset, b.byteLength);
        for (let i = 0; i + 8 <= b.length; i += 8) vals.push(d.getFloat64(i, true));
      }
    }
    count(vals.length);
    vals.forEach((v, i) => dv.setFloat64(8 * i, v, true));
  } else if (dtype === 'int64') {
    const vals = r.int64s(fields, TensorField.int64Data);
    count(vals.length);
    vals.forEach((v, i) => dv.setBigInt64(8 * i, BigInt(v), true));
  } else {
    // int32_data carries int32, int16, int8, uint8, bool, float16 and bfloat16 bit patterns.
    const vals = r.int64s(fields, TensorField.int32Data);
    count(vals.length);
    const size = dtypeInfo(dtype).size;
    vals.forEach((v, i) => {
      if (size === 4) dv.setInt32(4 * i, v, true);
      else if (size === 2) dv.setUint16(2 * i, v & 0xffff, true);
      else dv.setUint8(i, v & 0xff);
    });
  }
  return { dtype, shape, data: { kind: 'memory', bytes } };
}

/** A TensorProto with raw_data; the payload stays a range or thunk until written. */
export function encodeTensorProto(name: string, t: Tensor, keep: readonly Part[] = []): Message {
  const m = new Message();
  m.packedInt64Field(TensorField.dims, t.shape);
  m.varintField(TensorField.dataType, dtypeInfo(t.dtype).onnx);
  m.stringField(TensorField.name, name);
  m.bytesField(TensorField.rawData, tensorPayload(t));
  m.add(...keep);
  return m;
}

export function tensorPayload(t: Tensor): Part {
  if (t.data.kind === 'range') return { kind: 'range', range: t.data.range };
  if (t.data.kind === 'lazy') return { kind: 'lazy', length: byteLength(t), produce: () => tensorBytes(t), stream: t.data.stream && ((put) => streamLazyInto(t, put)) };
  return t.data.bytes;
}

/** Opens external data files of a model folder, once each, as `openDataFile` allows. */
export class ExternalFiles {
  private readonly open = new Map<string, ByteSource>();
  private folder?: string;
  constructor(readonly baseDir: string) {}
  openExternal = (location: string, label: string): ByteSource => {
    let s = this.open.get(location);
    if (!s) {
      this.folder ??= realFolder(this.baseDir);
      s = openDataFile(this.folder, location, label);
      this.open.set(location, s);
    }
    return s;
  };
  /** The data files opened so far (every one the model names, once its graph is decoded). */
  get paths(): string[] {
    return [...this.open.values()].map((s) => s.name);
  }
  close(): void {
    for (const s of this.open.values()) s.close();
    this.open.clear();
  }
}
