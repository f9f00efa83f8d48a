// Shared pieces of the checkpoint tests: temp folders, seeded random tensors, and hand assembly of pickles
// and torch-style zip archives (independent of the writers under test where it matters).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DType, dtypeInfo, numel } from '../../../src/dtype';
import { writeFileAtomic } from '../../../src/formats/atomic-file';
import { ZipWriter } from '../../../src/formats/zip/writer';
import { Tensor, tensorBytes } from '../../../src/tensor';
import { Random } from '../../../src/verify/random';

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'ckpt-test-'));
}

export const ALL_DTYPES: readonly DType[] = ['float32', 'float16', 'bfloat16', 'float64', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool'];

/** A tensor of random shape (rank 0-4, dims 0-5) and random bytes that are valid for its dtype. */
export function randomTensor(rng: Random, dtype: DType): Tensor {
  const rank = rng.int(0, 4);
  const shape = Array.from({ length: rank }, () => (rng.uniform() < 0.05 ? 0 : rng.int(1, 5)));
  const n = numel(shape);
  const bytes = new Uint8Array(n * dtypeInfo(dtype).size);
  if (dtype === 'bool') for (let i = 0; i < n; i++) bytes[i] = rng.int(0, 1);
  else if (dtype === 'float32') new Float32Array(bytes.buffer).set(Array.from({ length: n }, () => rng.normal()));
  else for (let i = 0; i < bytes.length; i++) bytes[i] = rng.int(0, 255);
  return { dtype, shape, data: { kind: 'memory', bytes } };
}

export function randomName(rng: Random, used: Set<string>): string {
  const parts = ['stage1', '0', 'rbr_dense', 'conv', 'bn', 'weight', 'bias', 'running_mean', 'num_batches_tracked', 'ünï', '1', '12'];
  for (;;) {
    const k = Array.from({ length: rng.int(1, 4) }, () => parts[rng.int(0, parts.length - 1)]).join('.');
    if (!used.has(k)) {
      used.add(k);
      return k;
    }
  }
}

export function randomStateDict(rng: Random, count: number, dtypes: readonly DType[] = ALL_DTYPES): Map<string, Tensor> {
  const used = new Set<string>();
  const out = new Map<string, Tensor>();
  for (let i = 0; i < count; i++) out.set(randomName(rng, used), randomTensor(rng, dtypes[rng.int(0, dtypes.length - 1)]));
  return out;
}

export function expectSameTensors(actual: ReadonlyMap<string, Tensor>, expected: ReadonlyMap<string, Tensor>): void {
  expect([...actual.keys()]).toEqual([...expected.keys()]);
  for (const [k, e] of expected) {
    const a = actual.get(k) as Tensor;
    expect({ k, dtype: a.dtype, shape: [...a.shape] }).toEqual({ k, dtype: e.dtype, shape: [...e.shape] });
    expect(Buffer.from(tensorBytes(a)).equals(Buffer.from(tensorBytes(e)))).toBe(true);
  }
}

// ---- hand-built pickles ----

/** Byte assembly for pickles: numbers are bytes, strings are latin1 text. */
export function bytes(...parts: Array<number | string | Uint8Array | number[]>): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') out.push(p);
    else if (typeof p === 'string') for (const c of Buffer.from(p, 'latin1')) out.push(c);
    else out.push(...p);
  }
  return Uint8Array.from(out);
}

export const u32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
/** BINUNICODE */
export const str = (s: string): Uint8Array => {
  const b = Buffer.from(s, 'utf8');
  return bytes(0x58, u32(b.length), b);
};
/** GLOBAL */
export const glob = (module: string, name: string): string => `c${module}\n${name}\n`;
/** BININT1 / BININT */
export const int = (v: number): Uint8Array => Uint8Array.from(v >= 0 && v < 256 ? [0x4b, v] : [0x4a, ...u32(v)]);
/** a tuple of small ints via MARK ... TUPLE */
export const intTuple = (vs: readonly number[]): Uint8Array => bytes(0x28, ...vs.map(int), 0x74);

/** ('storage', torch.<type>, key, 'cpu', numel) BINPERSID */
export function storageRef(storageType: string, key: string, n: number): Uint8Array {
  return bytes(0x28, str('storage'), glob('torch', storageType), str(key), str('cpu'), int(n), 0x74, 0x51);
}

/** _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()) */
export function rebuildTensor(storage: Uint8Array, offset: number, size: readonly number[], stride: readonly number[]): Uint8Array {
  return bytes(glob('torch._utils', '_rebuild_tensor_v2'), 0x28, storage, int(offset), intTuple(size), intTuple(stride), 0x89, glob('collections', 'OrderedDict'), 0x29, 0x52, 0x74, 0x52);
}

/** An OrderedDict pickle (protocol 2) from pre-assembled key/value byte pairs. */
export function orderedDict(items: ReadonlyArray<readonly [string, Uint8Array]>): Uint8Array {
  const body = items.length ? bytes(0x28, ...items.flatMap(([k, v]) => [str(k), v]), 0x75) : bytes();
  return bytes(glob('collections', 'OrderedDict'), 0x29, 0x52, body);
}

export function dict(items: ReadonlyArray<readonly [string, Uint8Array]>): Uint8Array {
  return bytes(0x7d, items.length ? bytes(0x28, ...items.flatMap(([k, v]) => [str(k), v]), 0x75) : bytes());
}

export function pickle(body: Uint8Array): Uint8Array {
  return bytes(0x80, 0x02, body, 0x2e);
}

// ---- torch-style archives ----

export interface ArchiveParts {
  readonly root?: string;
  readonly pickle: Uint8Array;
  readonly storages?: ReadonlyArray<readonly [string, Uint8Array]>;
  readonly byteorder?: string;
  readonly version?: string | null;
  readonly extra?: ReadonlyArray<readonly [string, Uint8Array]>;
}

/** Writes a torch.save-shaped zip with the given data.pkl and storage bytes. */
export function writeArchive(file: string, parts: ArchiveParts): void {
  const root = parts.root ?? 'archive';
  writeFileAtomic(file, (sink) => {
    const zip = new ZipWriter(sink);
    zip.addBytes(`${root}/data.pkl`, parts.pickle);
    if (parts.byteorder !== undefined) zip.addBytes(`${root}/byteorder`, Buffer.from(parts.byteorder));
    for (const [k, b] of parts.storages ?? []) zip.addBytes(`${root}/data/${k}`, b);
    for (const [k, b] of parts.extra ?? []) zip.addBytes(k, b);
    if (parts.version !== null) zip.addBytes(`${root}/version`, Buffer.from(parts.version ?? '3\n'));
    zip.finish();
  });
}

export function f32(values: readonly number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

export function f32Of(t: Tensor): number[] {
  const b = tensorBytes(t);
  return Array.from(new Float32Array(b.slice().buffer));
}

/** Bytes this process has read through read(2)/pread(2) so far (Linux), to prove that readers stay lazy. */
export function bytesRead(): number {
  const m = /^rchar: (\d+)$/m.exec(fs.readFileSync('/proc/self/io', 'latin1'));
  if (!m) throw new Error('no rchar in /proc/self/io');
  return Number(m[1]);
}

export function hasReadCounter(): boolean {
  try {
    bytesRead();
    return true;
  } catch {
    return false;
  }
}
