// Checkpoint inputs the fuzzer found mishandled, rebuilt by hand: views that expand a storage past the
// file, names from the file that broke messages over several lines, and readers that kept their file open.
import * as fs from 'fs';
import * as path from 'path';
import { convert } from '../../src/api/convert';
import { UserError } from '../../src/errors';
import { readPth } from '../../src/formats/pth';
import { readSafetensors } from '../../src/formats/safetensors';
import { tensorBytes } from '../../src/tensor';
import { bytes, dict, f32, glob, int, pickle, storageRef, str, tempDir, writeArchive } from '../formats/checkpoint/helpers';
import { FIXTURES } from '../helpers/fixtures';
import { zip } from './structure';
import { thrown } from '../helpers/errors';

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));


/** LONG1: integers past 2^31. */
function long(v: number): Uint8Array {
  const out: number[] = [];
  for (let x = BigInt(v); x > 0n; x >>= 8n) out.push(Number(x & 0xffn));
  if (out[out.length - 1] & 0x80) out.push(0);
  return bytes(0x8a, out.length, out);
}

const tuple = (vs: readonly number[]) => bytes(0x28, ...vs.map((v) => (v < 2 ** 31 ? int(v) : long(v))), 0x74);

function viewPth(name: string, size: readonly number[], stride: readonly number[]): string {
  const tensor = bytes(glob('torch._utils', '_rebuild_tensor_v2'), 0x28, storageRef('FloatStorage', '0', 1), int(0), tuple(size), tuple(stride), 0x89, glob('collections', 'OrderedDict'), 0x29, 0x52, 0x74, 0x52);
  const file = path.join(dir, name);
  writeArchive(file, { pickle: pickle(dict([['w', tensor]])), storages: [['0', f32([1])]] });
  return file;
}

test.each([
  ['2^40 elements', [2 ** 40], [0]],
  ['2^52 elements', [2 ** 26, 2 ** 26], [0, 0]],
  ['4 GiB', [2 ** 15, 2 ** 15], [0, 0]],
])('a view repeating one element to %s is refused, not gathered', (_what, size, stride) => {
  const e = thrown(() => readPth(viewPth('expanded.pth', size, stride)));
  expect(e).toBeInstanceOf(UserError);
  expect(e.message).toMatch(/repeats storage 0 to \d+ bytes, more than the whole \d+-byte file/);
  expect((e as UserError).hint).toMatch(/contiguous/);
});

test('a small expanded view (within the size of the file) still reads', () => {
  const sd = readPth(viewPth('small-expand.pth', [4], [0]));
  expect(Array.from(new Float32Array(tensorBytes(sd.tensors.get('w')!).slice().buffer))).toEqual([1, 1, 1, 1]);
  sd.close!();
});

const oneLine = (e: Error) => {
  expect(e).toBeInstanceOf(UserError);
  expect(e.message).not.toMatch(/[\n\r\u0000-\u001f]/);
};

test('zip entry names, version records and pickled names with control characters stay on one line', () => {
  const twice = path.join(dir, 'names.pth');
  const item = { name: 'archive/data/0\nrm -rf', method: 0, data: f32([1]) };
  fs.writeFileSync(twice, zip([item, item]));
  const a = thrown(() => readPth(twice));
  oneLine(a);
  expect(a.message).toContain('two entries named archive/data/0\\nrm -rf');

  const version = path.join(dir, 'version.pth');
  writeArchive(version, { pickle: pickle(dict([])), version: '3\r\n\u001b[2J4\n' });
  const b = thrown(() => readPth(version));
  oneLine(b);
  expect(b.message).toContain("archive version '3\\r\\n\\u001b[2J4'");

  const global = path.join(dir, 'global.pth');
  writeArchive(global, { pickle: pickle(bytes(str('os\nx'), str('system'), 0x93)) });
  const c = thrown(() => readPth(global));
  oneLine(c);
  expect(c.message).toContain('refers to os\\nx.system');
});

test('a pickled os.system is refused by name', () => {
  const e = thrown(() => readPth(path.join(FIXTURES, 'bad', 'os-system.pth')));
  expect(e).toBeInstanceOf(UserError);
  expect(e.message).toMatch(/refers to os\.system \(at byte \d+\), which a weights-only checkpoint may not contain; refused without running anything/);
});

test('safetensors keys with control characters stay on one line', () => {
  const header = Buffer.from('{"a\\nb":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a\\nb":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  const file = path.join(dir, 'keys.safetensors');
  fs.writeFileSync(file, Buffer.concat([len, header, Buffer.alloc(8)]));
  const e = thrown(() => readSafetensors(file));
  oneLine(e);
  expect(e.message).toContain("duplicate key 'a\\nb'");
});

const descriptors = () => fs.readdirSync('/proc/self/fd').length;
const linux = fs.existsSync('/proc/self/fd') ? test : test.skip;

linux('a state dict read from a file releases it on close()', () => {
  const before = descriptors();
  for (const file of ['official/train.safetensors', 'official/train.pth', 'variants/shared-storage.pth']) {
    const reader = file.endsWith('.pth') ? readPth : readSafetensors;
    const sd = reader(path.join(FIXTURES, 'ckpt', file));
    for (const t of sd.tensors.values()) tensorBytes(t);
    expect(descriptors()).toBeGreaterThan(before);
    sd.close!();
    expect(descriptors()).toBe(before);
  }
});

test('an integer tensor where a deploy conv weight belongs is refused when building ONNX from it', async () => {
  const src = path.join(FIXTURES, 'ckpt', 'official', 'deploy_expected.safetensors');
  const raw = fs.readFileSync(src);
  const n = Number(raw.readBigUInt64LE(0));
  const header = raw.subarray(8, 8 + n).toString().replace(/("stage0\.rbr_reparam\.weight":\{"dtype":)"F32"/, '$1"I32"');
  expect(header).toContain('"stage0.rbr_reparam.weight":{"dtype":"I32"');
  const file = path.join(dir, 'int-weight.safetensors');
  fs.writeFileSync(file, Buffer.concat([raw.subarray(0, 8), Buffer.from(header), raw.subarray(8 + n)]));
  const out = path.join(dir, 'int-weight.onnx');
  const e = await convert(file, out, { verify: false }).then(() => new Error('converted'), (x: Error) => x);
  expect(e).toBeInstanceOf(UserError);
  expect(e.message).toBe("'stage0.rbr_reparam.weight' is int32, not a floating-point tensor");
  expect(fs.existsSync(out)).toBe(false);
});

test('checkpoint keys with escape sequences are named escaped when their values are refused', async () => {
  const raw = fs.readFileSync(path.join(FIXTURES, 'ckpt', 'official', 'train.safetensors'));
  const n = Number(raw.readBigUInt64LE(0));
  const header = JSON.parse(raw.subarray(8, 8 + n).toString()) as Record<string, { data_offsets: [number, number] }>;
  const data = Buffer.from(raw.subarray(8 + n));
  data.writeFloatLE(NaN, header['stage1.0.rbr_dense.conv.weight'].data_offsets[0]);
  const renamed = Object.fromEntries(Object.entries(header).map(([k, v]) => [k === '__metadata__' ? k : `\u001b[31m${k}`, v]));
  const json = Buffer.from(JSON.stringify(renamed));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const file = path.join(dir, 'escape-keys.safetensors');
  fs.writeFileSync(file, Buffer.concat([len, json, data]));
  const e = await convert(file, path.join(dir, 'escape-out.safetensors'), { verify: false }).then(() => new Error('converted'), (x: Error) => x);
  oneLine(e);
  expect(e.message).toBe("'\\u001b[31mstage1.0.rbr_dense.conv.weight' holds NaN at element 0: a model with NaN or Inf weights cannot be converted");
});
