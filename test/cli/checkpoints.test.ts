// Checkpoints through the command line: every output format, compared with PyTorch's results, and
// every file in fixtures/bad refused with exit 2, nothing written, nothing run.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readSafetensors } from '../../src/formats/safetensors';
import { readWts } from '../../src/formats/wts';
import { tensorBytes, toFloat32 } from '../../src/tensor';
import { FIXTURES, readArray, relError, tempDir } from '../helpers/fixtures';
import * as ort from 'onnxruntime-node';

const BIN = path.join(__dirname, '..', '..', 'bin', 'repvgg-convert.js');
const cli = (...args: string[]) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};
const ckpt = (c: string, f: string) => path.join(FIXTURES, 'ckpt', c, f);

function expectSameWeights(got: ReadonlyMap<string, Parameters<typeof toFloat32>[0]>, expectedFile: string): void {
  const exp = readSafetensors(expectedFile).tensors;
  expect([...got.keys()]).toEqual([...exp.keys()]);
  for (const [k, t] of exp) {
    if (t.dtype === 'int64') {
      expect(Buffer.compare(Buffer.from(tensorBytes(got.get(k)!)), Buffer.from(tensorBytes(t)))).toBe(0);
      continue;
    }
    const a = toFloat32(t);
    const b = toFloat32(got.get(k)!);
    const scale = Math.max(1, ...Array.from(a, Math.abs));
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / scale);
    expect(worst).toBeLessThan(1e-5);
  }
}

describe('checkpoints on the command line', () => {
  const dir = tempDir();
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test.each(['official', 'official-g2-se', 'repvggplus', 'timm', 'mmpretrain', 'yolov6', 'yolov7'])('%s: .pth → .safetensors equals PyTorch’s converter', (c) => {
    const out = path.join(dir, `${c}.safetensors`);
    const r = cli(ckpt(c, 'train.pth'), out, '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.checkpoint.scheme).toBe(c.replace('-g2-se', ''));
    const st = readSafetensors(out);
    expectSameWeights(st.tensors, ckpt(c, 'deploy_expected.safetensors'));
    expect(st.metadata['repvgg-convert.scheme']).toBe(j.checkpoint.scheme);
  });

  test('.safetensors → .wts holds the same values, and nothing is written beside it', () => {
    const out = path.join(dir, 'official.wts');
    expect(cli(ckpt('official', 'train.safetensors'), out).code).toBe(0);
    const wts = readWts(out).tensors;
    const exp = readSafetensors(ckpt('official', 'deploy_expected.safetensors')).tensors;
    for (const [k, t] of exp) if (t.dtype === 'float32') expect(relError(toFloat32(wts.get(k)!), toFloat32(t))).toBeLessThan(1e-6);
    expect(fs.existsSync(`${out}.json`)).toBe(false);
  });

  test('.safetensors → .onnx reproduces PyTorch’s train-time outputs', async () => {
    const out = path.join(dir, 'official.onnx');
    const x = readArray(ckpt('official', 'input'));
    const r = cli(ckpt('official', 'train.safetensors'), out, '--input-shape', x.shape.join('x'), '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).verify.ok).toBe(true);
    const s = await ort.InferenceSession.create(out);
    const y = await s.run({ input: new ort.Tensor('float32', x.data, x.shape) });
    expect(relError(y[s.outputNames[0]].data as Float32Array, readArray(ckpt('official', 'ref_train')).data)).toBeLessThan(1e-4);
    await s.release();
  });

  test('an already converted checkpoint is reported, not converted again', () => {
    const r = cli(path.join(FIXTURES, 'ckpt', 'variants', 'deploy.pth'), path.join(dir, 'again.safetensors'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/already in deploy form/);
  });

  const marker = path.join(os.tmpdir(), 'repvgg-convert-fixture-pwned');
  const bad = fs.readdirSync(path.join(FIXTURES, 'bad')).filter((f) => f !== 'manifest.json');
  test.each(bad)('refuses bad/%s with exit 2, no output, nothing run', (f) => {
    const input = path.join(FIXTURES, 'bad', f);
    const before = fs.readFileSync(input);
    const out = path.join(dir, `out-${f}${f.endsWith('.onnx') ? '' : '.safetensors'}`);
    const r = cli(input, out.endsWith('.onnx') ? out : out);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n').length).toBeLessThanOrEqual(2);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.existsSync(marker)).toBe(false);
    expect(Buffer.compare(before, fs.readFileSync(input))).toBe(0);
  });
});

test('a mixed checkpoint (one block already converted) converts and verifies', async () => {
  const { writeSafetensors } = await import('../../src/formats/safetensors');
  const { convert } = await import('../../src/api/convert');
  const train = readSafetensors(ckpt('official', 'train.safetensors')).tensors;
  const deploy = readSafetensors(ckpt('official', 'deploy_expected.safetensors')).tensors;
  const mixed = new Map<string, ReturnType<typeof train.get> & object>();
  for (const [k, t] of train) {
    if (k.startsWith('stage1.0.')) {
      if (k === 'stage1.0.rbr_dense.conv.weight') {
        mixed.set('stage1.0.rbr_reparam.weight', deploy.get('stage1.0.rbr_reparam.weight')!);
        mixed.set('stage1.0.rbr_reparam.bias', deploy.get('stage1.0.rbr_reparam.bias')!);
      }
      continue;
    }
    mixed.set(k, t);
  }
  const dir = tempDir();
  const file = path.join(dir, 'mixed.safetensors');
  writeSafetensors(file, mixed);
  const x = readArray(ckpt('official', 'input'));
  const res = await convert(file, path.join(dir, 'mixed.onnx'), { inputShape: x.shape });
  expect(res.checkpoint?.form).toBe('mixed');
  expect(res.verify?.ok).toBe(true);
  fs.rmSync(dir, { recursive: true, force: true });
});
