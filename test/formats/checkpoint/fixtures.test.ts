// The PyTorch-made fixtures (fixtures/ckpt, fixtures/bad): torch.save output and hand-written safetensors
// agree, wrappers and storage tricks read as torch reads them, and every bad file is refused.
import * as fs from 'fs';
import * as path from 'path';
import { UserError } from '../../../src/errors';
import { readPth } from '../../../src/formats/pth';
import { readSafetensors } from '../../../src/formats/safetensors';
import { tensorBytes, toFloat32 } from '../../../src/tensor';
import { expectSameTensors } from './helpers';

const FIXTURES = path.join(__dirname, '../../../fixtures');
const CKPT = path.join(FIXTURES, 'ckpt');
const VARIANTS = path.join(CKPT, 'variants');
const cases = fs.readdirSync(CKPT).filter((c) => c !== 'variants' && fs.existsSync(path.join(CKPT, c, 'train.pth')));

test('the fixtures are there', () => {
  expect(cases).toEqual(expect.arrayContaining(['official', 'official-g2-se', 'timm', 'mmpretrain', 'yolov6', 'yolov7', 'repvggplus']));
});

describe.each(cases)('ckpt/%s', (c) => {
  test('train.pth (torch.save) and train.safetensors hold the same tensors in the same order', () => {
    const pth = readPth(path.join(CKPT, c, 'train.pth'));
    const st = readSafetensors(path.join(CKPT, c, 'train.safetensors'));
    expectSameTensors(pth.tensors, st.tensors);
    expect(pth.notes).toEqual([]);
    const meta = JSON.parse(fs.readFileSync(path.join(CKPT, c, 'meta.json'), 'utf8'));
    expect(st.metadata.scheme).toBe(meta.scheme);
    // num_batches_tracked comes through as int64 scalars
    const nbt = [...pth.tensors].filter(([k]) => k.endsWith('num_batches_tracked'));
    expect(nbt.every(([, t]) => t.dtype === 'int64' && t.shape.length === 0)).toBe(true);
  });
});

describe('ckpt/variants', () => {
  const official = () => readSafetensors(path.join(CKPT, 'official', 'train.safetensors')).tensors;

  test.each([
    ['wrapped-state_dict.pth', ["took the 'state_dict' entry"]],
    ['wrapped-model-module.pth', ["took the 'model' entry", "stripped 'module.' prefix"]],
    ['ema-and-model.pth', ["took the 'ema' entry (also present: 'model')"]],
  ])('%s unwraps to the official state dict', (f, notes) => {
    const sd = readPth(path.join(VARIANTS, f));
    expectSameTensors(sd.tensors, official());
    expect(sd.notes).toEqual(notes);
  });

  test("ema-and-model.pth: the 'model' entry can be chosen and differs", () => {
    const model = readPth(path.join(VARIANTS, 'ema-and-model.pth'), { entry: 'model' }).tensors;
    const ref = official();
    const k = 'stage0.rbr_dense.conv.weight';
    const scaled = toFloat32(model.get(k)!);
    const base = toFloat32(ref.get(k)!);
    expect(Array.from(scaled)).toEqual(Array.from(base, (v) => Math.fround(v * 1.25)));
  });

  test('shared-storage.pth: tied tensors, offset views, transposed and strided views read as torch reads them', () => {
    const sd = readPth(path.join(VARIANTS, 'shared-storage.pth'));
    const ref = official();
    expect([...sd.tensors.keys()]).toEqual([...ref.keys()]);
    for (const [k, t] of sd.tensors) {
      const expected = k === 'stage1.0.rbr_1x1.bn.weight' ? ref.get('stage1.0.rbr_dense.bn.weight')! : ref.get(k)!;
      expect({ k, same: Buffer.from(tensorBytes(t)).equals(Buffer.from(tensorBytes(expected))) }).toEqual({ k, same: true });
    }
    expect(sd.notes).toEqual(['2 tensor(s) are strided views; their elements are gathered when read', '2 storage(s) are shared by several tensors']);
    // the offset views are ranges of one storage, 8 floats apart
    const views = ['weight', 'bias', 'running_mean', 'running_var'].map((n) => sd.tensors.get(`stage0.rbr_dense.bn.${n}`)!.data);
    const offsets = views.map((d) => (d.kind === 'range' ? d.range.offset : -1));
    expect(offsets.slice(1).map((o, i) => o - offsets[i])).toEqual([32, 32, 32]);
  });

  test('deploy.pth reads as the expected deploy state dict', () => {
    expectSameTensors(readPth(path.join(VARIANTS, 'deploy.pth')).tensors, readSafetensors(path.join(CKPT, 'official', 'deploy_expected.safetensors')).tensors);
  });

  test.each([
    ['official-f16.safetensors', 'float16', 1e-3],
    ['official-bf16.safetensors', 'bfloat16', 8e-3],
  ])('%s holds %s values of the official weights', (f, dtype, tol) => {
    const sd = readSafetensors(path.join(VARIANTS, f));
    const ref = official();
    expect([...sd.tensors.keys()]).toEqual([...ref.keys()]);
    for (const [k, t] of sd.tensors) {
      if (k.endsWith('num_batches_tracked')) {
        expect(t.dtype).toBe('int64');
        continue;
      }
      expect(t.dtype).toBe(dtype);
      const got = toFloat32(t);
      const want = toFloat32(ref.get(k)!);
      const worst = Math.max(0, ...Array.from(got, (v, i) => Math.abs(v - want[i]) / Math.max(Math.abs(want[i]), 1e-3)));
      expect({ k, ok: worst <= tol }).toEqual({ k, ok: true });
    }
  });

  test('legacy.pth is refused with how to re-save it', () => {
    let err: UserError | undefined;
    try {
      readPth(path.join(VARIANTS, 'legacy.pth'));
    } catch (e) {
      err = e as UserError;
    }
    expect(err).toBeInstanceOf(UserError);
    expect(err!.code).toBe('UNSUPPORTED');
    expect(err!.message).toMatch(/legacy PyTorch checkpoint \(saved by PyTorch before 1\.6\)/);
    expect(err!.hint).toMatch(/torch\.save\(torch\.load\('in\.pth'\), 'out\.pth'\)/);
  });
});

describe('fixtures/bad', () => {
  const manifest = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'bad', 'manifest.json'), 'utf8')) as {
    sentinel: string;
    files: Array<{ file: string; format: string; problem: string }>;
  };
  const ours = manifest.files.filter((f) => f.format === 'pth' || f.format === 'safetensors');

  test.each(ours.map((f) => [f.file, f.problem, f.format]))('%s (%s) is refused', (file, _problem, format) => {
    const full = path.join(FIXTURES, 'bad', file);
    const read = format === 'pth' ? () => readPth(full) : () => readSafetensors(full);
    let err: unknown;
    try {
      read();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message.startsWith(full)).toBe(true);
    if (file.includes('system') && !file.startsWith('legacy')) expect((err as Error).message).toMatch(/refers to (os|posix)\.system \(at byte \d+\)/);
    if (file.includes('eval')) expect((err as Error).message).toMatch(/refers to builtins\.eval/);
  });

  test('no hostile file ever ran', () => {
    expect(fs.existsSync(manifest.sentinel)).toBe(false);
  });
});
