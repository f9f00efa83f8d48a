// Hostile and malformed inputs of every kind the tool must refuse, made from the committed fixtures or from
// scratch, each with the words its refusal must contain. Used by the command-line tests.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { readSafetensors } from '../../src/formats/safetensors';
import { writePth } from '../../src/formats/pth/write-pth';
import { Tensor, tensorBytes } from '../../src/tensor';
import { bytes, dict, f32, glob, int, pickle, storageRef, writeArchive } from '../formats/checkpoint/helpers';
import { FIXTURES } from '../helpers/fixtures';
import { rng } from '../helpers/random';
import { withChangedWeight } from '../verify/helpers/onnx-initializers';
import { field, varintField } from './onnx-bytes';
import { encodeVarint } from './protobuf-tree';
import { unzip, zip } from './structure';

export interface HostileCase {
  readonly name: string;
  /** Makes the input inside `dir`; returns its path. */
  readonly make: (dir: string) => string;
  /** Output extension; the output is named after the case. */
  readonly out: string;
  readonly message: RegExp;
}

const TRAIN_ONNX = path.join(FIXTURES, 'onnx', 'repvgg-bn', 'train.onnx');
const TRAIN_ST = path.join(FIXTURES, 'ckpt', 'official', 'train.safetensors');
const TRAIN_PTH = path.join(FIXTURES, 'ckpt', 'official', 'train.pth');
const bad = (f: string) => path.join(FIXTURES, 'bad', f);

const write = (dir: string, name: string, b: Uint8Array | string) => {
  const file = path.join(dir, name);
  fs.writeFileSync(file, b);
  return file;
};
const copy = (dir: string, name: string, from: string) => write(dir, name, fs.readFileSync(from));

/** The model with its top-level graph field announcing `extra` more bytes than there are (same varint width). */
function graphLengthPastEnd(model: Uint8Array, extra: number): Uint8Array {
  const out = Uint8Array.from(model);
  const { length, lengthAt, payloadAt } = topLevelField(model, 7);
  const enc = encodeVarint(BigInt(length + extra));
  if (enc.length !== payloadAt - lengthAt) throw new Error('length varint changed width');
  out.set(enc, lengthAt);
  return out;
}

/** A top-level length-delimited field of a protobuf message: where its tag, length and payload sit. */
function topLevelField(model: Uint8Array, no: number): { start: number; lengthAt: number; payloadAt: number; length: number; end: number } {
  const varint = (at: number): [number, number] => {
    let v = 0;
    let scale = 1;
    for (let i = at; ; i++) {
      v += (model[i] & 0x7f) * scale;
      scale *= 128;
      if (!(model[i] & 0x80)) return [v, i + 1];
    }
  };
  for (let p = 0; p < model.length; ) {
    const [tag, q] = varint(p);
    if (tag % 8 === 0) p = varint(q)[1];
    else if (tag % 8 !== 2) throw new Error('unexpected wire type in the fixture');
    else {
      const [length, r] = varint(q);
      if (tag >> 3 === no) return { start: p, lengthAt: q, payloadAt: r, length, end: r + length };
      p = r + length;
    }
  }
  throw new Error(`no field ${no}`);
}

/** A safetensors file from a JSON header and a data buffer. */
function safetensors(header: object, data: Uint8Array): Uint8Array {
  const json = Buffer.from(JSON.stringify(header).replace(/"@(\d+)"/g, '$1'));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, data]);
}

/** The official fixture with one float32 element of `key` changed, as safetensors or as .pth. */
function changedCheckpoint(dir: string, name: string, key: string, index: number, value: number): string {
  const sd = readSafetensors(TRAIN_ST);
  const tensors = new Map<string, Tensor>();
  for (const [k, t] of sd.tensors) {
    if (k !== key) {
      tensors.set(k, t);
      continue;
    }
    const b = tensorBytes(t).slice();
    new DataView(b.buffer).setFloat32(4 * index, value, true);
    tensors.set(k, { dtype: t.dtype, shape: t.shape, data: { kind: 'memory', bytes: b } });
  }
  const file = path.join(dir, name);
  if (name.endsWith('.pth')) writePth(file, tensors);
  else {
    const raw = fs.readFileSync(TRAIN_ST);
    const n = Number(raw.readBigUInt64LE(0));
    const header = JSON.parse(raw.subarray(8, 8 + n).toString()) as Record<string, { data_offsets: [number, number] }>;
    const at = 8 + n + header[key].data_offsets[0] + 4 * index;
    raw.writeFloatLE(value, at);
    fs.writeFileSync(file, raw);
  }
  sd.close?.();
  return file;
}

function pthTensor(size: readonly number[], stride: readonly number[]): Uint8Array {
  const long = (v: number) => {
    const out: number[] = [];
    for (let x = BigInt(v); x > 0n; x >>= 8n) out.push(Number(x & 0xffn));
    if (out[out.length - 1] & 0x80) out.push(0);
    return bytes(0x8a, out.length, out);
  };
  const tuple = (vs: readonly number[]) => bytes(0x28, ...vs.map((v) => (v < 2 ** 31 ? int(v) : long(v))), 0x74);
  return bytes(glob('torch._utils', '_rebuild_tensor_v2'), 0x28, storageRef('FloatStorage', '0', 1), int(0), tuple(size), tuple(stride), 0x89, glob('collections', 'OrderedDict'), 0x29, 0x52, 0x74, 0x52);
}

const NOT_ONNX = /is not an ONNX model \(.* at byte \d+\)/;
const NOT_ST = /is not a safetensors file \(.* at byte \d+\)/;

export const HOSTILE: readonly HostileCase[] = [
  // ONNX
  { name: 'empty .onnx', out: '.onnx', make: (d) => write(d, 'empty.onnx', ''), message: /is empty: it is not a model file/ },
  { name: 'truncated .onnx', out: '.onnx', make: (d) => write(d, 't.onnx', fs.readFileSync(TRAIN_ONNX).subarray(0, 20000)), message: NOT_ONNX },
  { name: 'random bytes', out: '.onnx', make: (d) => write(d, 'random.onnx', Uint8Array.from({ length: 4096 }, ((r) => () => r.int(0, 255))(rng(7)))), message: NOT_ONNX },
  { name: 'text', out: '.onnx', make: (d) => write(d, 'text.onnx', 'name,value\nweight,1.0\n'.repeat(20)), message: NOT_ONNX },
  { name: 'a directory', out: '.onnx', make: (d) => (fs.mkdirSync(path.join(d, 'model.onnx')), path.join(d, 'model.onnx')), message: /is a directory, not a model file/ },
  { name: 'a protobuf length past the end', out: '.onnx', make: (d) => write(d, 'len.onnx', graphLengthPastEnd(fs.readFileSync(TRAIN_ONNX), 1000)), message: /is not an ONNX model \(length \d+ runs past the end of its message/ },
  {
    name: 'NaN in an ONNX conv weight',
    out: '.onnx',
    make: (d) => write(d, 'nan.onnx', withChangedWeight(fs.readFileSync(TRAIN_ONNX), 'stage1.0.rbr_dense.conv.weight', 5, () => NaN)),
    message: /'stage1\.0\.rbr_dense\.conv\.weight' holds NaN at element 5/,
  },
  {
    name: 'Inf in an ONNX BN scale',
    out: '.onnx',
    make: (d) => write(d, 'inf.onnx', withChangedWeight(fs.readFileSync(TRAIN_ONNX), 'stage0.rbr_1x1.bn.weight', 0, () => Infinity)),
    message: /'stage0\.rbr_1x1\.bn\.weight' holds Infinity at element 0/,
  },
  {
    name: 'NaN in an ONNX weight no merge reads (the classifier head)',
    out: '.onnx',
    make: (d) => write(d, 'head.onnx', withChangedWeight(fs.readFileSync(TRAIN_ONNX), 'linear.weight', 7, () => NaN)),
    message: /'linear\.weight' holds NaN at element 7/,
  },
  {
    name: 'a negative BN running_var in ONNX',
    out: '.onnx',
    make: (d) => write(d, 'var.onnx', withChangedWeight(fs.readFileSync(TRAIN_ONNX), 'stage0.rbr_dense.bn.running_var', 1, () => -0.5)),
    message: /'stage0\.rbr_dense\.bn\.running_var' holds -0\.5 at element 1, at or below -eps/,
  },
  {
    name: 'ONNX dims multiplying past 2^53',
    out: '.onnx',
    make: (d) => write(d, 'dims.onnx', onnxWithInitializer([2 ** 20, 2 ** 20, 2 ** 20], new Uint8Array(4))),
    message: /is not an ONNX model \(w: shape \[1048576, 1048576, 1048576\] has more than 2\^53 elements at byte \d+\)/,
  },
  {
    name: 'ONNX dims past the data in the file',
    out: '.onnx',
    make: (d) => write(d, 'past.onnx', onnxWithInitializer([2 ** 20, 2 ** 12], new Uint8Array(16))),
    message: /is not an ONNX model \(w: raw_data holds 16 bytes, shape \[1048576,4096\] of float32 needs 17179869184 at byte \d+\)/,
  },
  { name: 'output = input (ONNX, through a symlink)', out: 'symlink', make: (d) => copy(d, 'same.onnx', TRAIN_ONNX), message: /is the input file; refusing to overwrite it/ },

  // safetensors
  { name: 'empty .safetensors', out: '.safetensors', make: (d) => write(d, 'empty.safetensors', ''), message: /is empty: it is not a model file/ },
  { name: 'truncated .safetensors', out: '.safetensors', make: (d) => write(d, 't.safetensors', fs.readFileSync(TRAIN_ST).subarray(0, 30000)), message: NOT_ST },
  { name: 'a safetensors header over the limit', out: '.safetensors', make: (d) => copy(d, 'big.safetensors', bad('header-too-large.safetensors')), message: /header length 1099511627776 is over the 100000000-byte limit at byte 0/ },
  { name: 'safetensors offsets out of range', out: '.safetensors', make: (d) => copy(d, 'range.safetensors', bad('offset-out-of-range.safetensors')), message: /entry 'b': data_offsets \[16, 4016\] hold 4000 bytes but shape \[3\] of F32 needs 12 at byte \d+/ },
  { name: 'overlapping safetensors offsets', out: '.safetensors', make: (d) => copy(d, 'overlap.safetensors', bad('overlapping-offsets.safetensors')), message: /overlaps the tensor before it/ },
  { name: 'a wrong safetensors byte count', out: '.safetensors', make: (d) => copy(d, 'count.safetensors', bad('size-mismatch.safetensors')), message: /hold 12 bytes but shape \[2,2\] of F32 needs 16/ },
  {
    name: 'safetensors dims multiplying past 2^53',
    out: '.safetensors',
    make: (d) => write(d, 'dims.safetensors', safetensors({ w: { dtype: 'F32', shape: ['@1073741824', '@1073741824', '@1073741824'], data_offsets: [0, 4] } }, new Uint8Array(4))),
    message: /entry 'w': shape \[1073741824,1073741824,1073741824\] has more than 2\^53 elements/,
  },
  {
    name: 'safetensors dims past the file',
    out: '.safetensors',
    make: (d) => write(d, 'past.safetensors', safetensors({ w: { dtype: 'F32', shape: [1048576, 1024], data_offsets: [0, 4294967296] } }, new Uint8Array(16))),
    message: /tensor 'w' ends at buffer offset 4294967296, past the end of the file's 16-byte buffer/,
  },
  { name: 'Inf in a checkpoint weight no merge reads (the classifier head)', out: '.safetensors', make: (d) => changedCheckpoint(d, 'head.safetensors', 'linear.weight', 4, -Infinity), message: /'linear\.weight' holds -Infinity at element 4: a model with NaN or Inf weights cannot be converted/ },
  { name: 'NaN in a checkpoint weight', out: '.safetensors', make: (d) => changedCheckpoint(d, 'nan.safetensors', 'stage1.0.rbr_dense.conv.weight', 3, NaN), message: /'stage1\.0\.rbr_dense\.conv\.weight' holds NaN at element 3/ },
  {
    name: 'a negative running_var in a checkpoint',
    out: '.safetensors',
    make: (d) => changedCheckpoint(d, 'var.safetensors', 'stage0.rbr_dense.bn.running_var', 2, -0.25),
    message: /'stage0\.rbr_dense\.bn\.running_var' holds -0\.25 at element 2, at or below -eps/,
  },
  { name: 'output = input (.safetensors)', out: 'same', make: (d) => copy(d, 'same.safetensors', TRAIN_ST), message: /is the input file; refusing to overwrite it/ },

  // .pth
  { name: 'empty .pth', out: '.safetensors', make: (d) => write(d, 'empty.pth', ''), message: /is empty: it is not a model file/ },
  { name: 'truncated .pth', out: '.safetensors', make: (d) => write(d, 't.pth', fs.readFileSync(TRAIN_PTH).subarray(0, 40000)), message: /is not a PyTorch checkpoint \(no zip end-of-central-directory record \(truncated file\?\) at byte 40000\)/ },
  { name: 'a zip that is not a PyTorch archive', out: '.safetensors', make: (d) => copy(d, 'zip.pth', bad('not-pytorch.pth')), message: /is not a PyTorch checkpoint \(zip archive has no <root>\/data\.pkl at byte 0\)/ },
  { name: 'a pickled os.system', out: '.safetensors', make: (d) => copy(d, 'os.pth', bad('os-system.pth')), message: /refers to os\.system \(at byte \d+\), which a weights-only checkpoint may not contain; refused without running anything/ },
  { name: 'a pickled builtins.eval', out: '.safetensors', make: (d) => copy(d, 'eval.pth', bad('builtins-eval.pth')), message: /refers to builtins\.eval/ },
  { name: 'os.system through STACK_GLOBAL', out: '.safetensors', make: (d) => copy(d, 'sg.pth', bad('stack-global-os-system.pth')), message: /refers to os\.system/ },
  {
    name: '.pth dims multiplying past 2^53',
    out: '.safetensors',
    make: (d) => pth(d, 'dims.pth', pthTensor([2 ** 30, 2 ** 30, 2 ** 30], [1, 1, 1])),
    message: /is not a PyTorch checkpoint \(tensor shape \[1073741824,1073741824,1073741824\] has more than 2\^53 elements at byte \d+\)/,
  },
  { name: '.pth view past the file', out: '.safetensors', make: (d) => pth(d, 'view.pth', pthTensor([2 ** 40], [0])), message: /repeats storage 0 to 4398046511104 bytes, more than the whole \d+-byte file/ },
  { name: 'a negative running_var in a .pth', out: '.safetensors', make: (d) => changedCheckpoint(d, 'var.pth', 'stage1.1.rbr_identity.running_var', 0, -3), message: /'stage1\.1\.rbr_identity\.running_var' holds -3 at element 0/ },
  { name: 'output = input (.pth)', out: 'same', make: (d) => copy(d, 'same.pth', TRAIN_PTH), message: /is the input file; refusing to overwrite it/ },
  { name: 'a .pth storage that fails its CRC', out: '.safetensors', make: (d) => write(d, 'crc.pth', damagedStorage(fs.readFileSync(TRAIN_PTH))), message: /is not a PyTorch checkpoint \(storage .*\/data\/\d+ fails its CRC check: its bytes are not the ones saved at byte \d+\)/ },
  {
    // 15 KB on disk, 16 MB of pickle: eight million empty dicts, each kept by the memo
    name: 'a deflated data.pkl of empty dicts (memory)',
    out: '.safetensors',
    make: (d) => write(d, 'dicts.pth', pthArchive(Buffer.concat([Buffer.from([0x80, 2]), Buffer.alloc(2 * 8_000_000, Buffer.from([0x7d, 0x94])), Buffer.from([0x7d, 0x2e])]))),
    message: /data\.pkl: its 16000004 bytes would build more than 256 MiB of objects, more than any checkpoint needs/,
  },

  // files that are not what they seem, and external data from outside the model's folder
  { name: 'a named pipe as the input', out: '.onnx', make: (d) => fifo(path.join(d, 'pipe.onnx')), message: /^error: input .*pipe\.onnx is a named pipe, not a regular file$/m },
  {
    name: 'external data: a symbolic link to a file outside the model folder',
    out: '.onnx',
    make: (d) => {
      write(path.dirname(d), 'secret.txt', SECRET);
      fs.symlinkSync('../secret.txt', path.join(d, 'w.bin'));
      return write(d, 'm.onnx', onnxWithExternal({ location: 'w.bin' }));
    },
    message: /w: external data location "w\.bin" resolves, through a symbolic link, to a file outside the model's folder; refusing to read it/,
  },
  {
    name: 'external data: a location through a linked subfolder',
    out: '.onnx',
    make: (d) => {
      write(path.dirname(d), 'secret.txt', SECRET);
      fs.symlinkSync('..', path.join(d, 'up'));
      return write(d, 'm.onnx', onnxWithExternal({ location: 'up/secret.txt' }));
    },
    message: /external data location "up\/secret\.txt" resolves, through a symbolic link, to a file outside the model's folder/,
  },
  { name: 'external data: a named pipe', out: '.onnx', make: (d) => (fifo(path.join(d, 'w.bin')), write(d, 'm.onnx', onnxWithExternal({ location: 'w.bin' }))), message: /w: external data file w\.bin is a named pipe, not a regular file/ },
  { name: 'external data: location "."', out: '.onnx', make: (d) => write(d, 'm.onnx', onnxWithExternal({ location: '.' })), message: /w: external data file \. is a directory, not a regular file/ },
  { name: 'external data: a folder', out: '.onnx', make: (d) => (fs.mkdirSync(path.join(d, 'w.bin')), write(d, 'm.onnx', onnxWithExternal({ location: 'w.bin' }))), message: /w: external data file w\.bin is a directory/ },
  { name: 'external data: a link to a device', out: '.onnx', make: (d) => (fs.symlinkSync('/dev/zero', path.join(d, 'w.bin')), write(d, 'm.onnx', onnxWithExternal({ location: 'w.bin' }))), message: /w: external data location "w\.bin" resolves, through a symbolic link, to a file outside/ },
  { name: 'external data: an empty location', out: '.onnx', make: (d) => write(d, 'm.onnx', onnxWithExternal({ location: '' })), message: /w: external data location "" is empty/ },
  ...['0x0', ' 0', '0e0', '-0', '+0', '0.0'].map((offset): HostileCase => ({
    name: `external data: offset ${JSON.stringify(offset)}`,
    out: '.onnx',
    make: (d) => (write(d, 'w.bin', new Uint8Array(64)), write(d, 'm.onnx', onnxWithExternal({ location: 'w.bin', offset }))),
    message: new RegExp(`is not an ONNX model \\(w: external data offset "${offset.replace(/[.+]/g, '\\$&')}" is not a decimal byte count at byte \\d+\\)`),
  })),
  { name: 'external data: a key twice', out: '.onnx', make: (d) => (write(d, 'w.bin', new Uint8Array(64)), write(d, 'm.onnx', onnxWithExternal({ location: 'w.bin' }, [['location', '../x']]))), message: /w: external data key location appears twice/ },
  { name: 'a second graph field', out: '.onnx', make: (d) => write(d, 'two.onnx', withSecondGraph(fs.readFileSync(TRAIN_ONNX))), message: /is not an ONNX model \(the model has 2 graph fields; a model has one at byte \d+\)/ },
];

const SECRET = 'SECRET '.repeat(16);

export function fifo(file: string): string {
  execFileSync('mkfifo', [file]);
  return file;
}

/** A .pth archive around a pickle, data.pkl deflated (as PyTorch never does, and zip allows). */
function pthArchive(pkl: Uint8Array): Uint8Array {
  return zip([
    { name: 'archive/data.pkl', method: 8, data: pkl },
    { name: 'archive/version', method: 0, data: Buffer.from('3\n') },
  ]);
}

/** The archive with one byte of its first storage changed; its recorded CRC stays. */
function damagedStorage(pth: Uint8Array): Uint8Array {
  const items = unzip(pth)!;
  const storage = items.find((it) => /\/data\/\d+$/.test(it.name))!;
  const data = Uint8Array.from(storage.data);
  data[0] ^= 0x01;
  const out = Buffer.from(zip(items));
  // zip() recomputes CRCs: put the damaged bytes in after it, where the file keeps the storage
  const at = out.indexOf(Buffer.from(storage.data), 0);
  out.set(data, at);
  return out;
}

/** The model with a copy of its graph field appended: protobuf would merge the two graphs. */
function withSecondGraph(model: Uint8Array): Uint8Array {
  const { start, end } = topLevelField(model, 7);
  return Buffer.concat([model, model.subarray(start, end)]);
}


function pth(dir: string, name: string, tensor: Uint8Array): string {
  const file = path.join(dir, name);
  writeArchive(file, { pickle: pickle(dict([['w', tensor]])), storages: [['0', f32([1])]] });
  return file;
}


/** A one-node model (y = x + w) whose initializer w has the given dims and raw_data. */
function onnxWithInitializer(dims: readonly number[], raw: Uint8Array): Uint8Array {
  const tensor = Buffer.concat([field(1, Uint8Array.from(dims.flatMap((d) => encodeVarint(BigInt(d))))), varintField(2, 1), field(8, Buffer.from('w')), field(9, raw)]);
  return addModel(tensor);
}

/** The same model with w (16 float32) in external data, described by `entries` (and `more`, in that order after them). */
export function onnxWithExternal(entries: Readonly<Record<string, string>>, more: ReadonlyArray<readonly [string, string]> = []): Uint8Array {
  const kv = [...Object.entries(entries), ...more].map(([k, v]) => field(13, Buffer.concat([field(1, Buffer.from(k)), field(2, Buffer.from(v))])));
  const tensor = Buffer.concat([field(1, Uint8Array.from(encodeVarint(16n))), varintField(2, 1), field(8, Buffer.from('w')), ...kv, varintField(14, 1)]);
  return addModel(tensor);
}

/** A chain of n Relu nodes after x, as bytes (quicker than building the graph: n may be past what the reader takes). */
export function reluChain(n: number): Uint8Array {
  const s = (t: string) => Buffer.from(t);
  const info = (name: string) => Buffer.concat([field(1, s(name)), field(2, field(1, varintField(1, 1)))]);
  const nodes: Uint8Array[] = [];
  for (let i = 0, prev = 'x'; i < n; prev = `v${i}`, i++) nodes.push(field(1, Buffer.concat([field(1, s(prev)), field(2, s(`v${i}`)), field(4, s('Relu'))])));
  const graph = Buffer.concat([...nodes, field(2, s('g')), field(11, info('x')), field(12, info(`v${n - 1}`))]);
  return Buffer.concat([varintField(1, 8), field(7, graph), field(8, Buffer.concat([field(1, s('')), varintField(2, 13)]))]);
}

function addModel(tensor: Uint8Array): Uint8Array {
  const s = (t: string) => Buffer.from(t);
  const info = (n: string) => field(11, Buffer.concat([field(1, s(n)), field(2, field(1, varintField(1, 1)))]));
  const node = Buffer.concat([field(1, s('x')), field(1, s('w')), field(2, s('y')), field(4, s('Add'))]);
  const graph = Buffer.concat([field(1, node), field(2, s('g')), field(5, tensor), info('x'), field(12, Buffer.concat([field(1, s('y')), field(2, field(1, varintField(1, 1)))]))]);
  return Buffer.concat([varintField(1, 8), field(7, graph), field(8, Buffer.concat([field(1, s('')), varintField(2, 13)]))]);
}
