// The check of checkpoints works from the bytes that land: a conversion's staged output is read back by
// our own reader before it is committed (a byte changed after staging fails the check), and `verify`
// takes a training checkpoint with the deploy weights converted from it (.safetensors, .pth, .wts, .onnx).
import * as fs from 'fs';
import * as path from 'path';
import { convert, verify, CheckFailedError, UserError } from '../../src';
import { readSafetensors } from '../../src/formats/safetensors';
import { FIXTURES, caseDir, tempDir } from '../helpers/fixtures';

const train = path.join(FIXTURES, 'ckpt', 'official', 'train.pth');

describe('checkpoint pairs', () => {
  const dir = tempDir();
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('a merged weight changed by one byte after staging fails the check, and nothing is written', async () => {
    const out = path.join(dir, 'tampered.safetensors');
    let tampered = '';
    const onEvent = (e: { type: string; phase?: string }) => {
      if (e.type !== 'phase-end' || e.phase !== 'write') return;
      // The staged file sits beside the output until the check has passed.
      const staged = fs.readdirSync(dir).find((f) => f.startsWith('.tampered.safetensors.') && f.endsWith('.tmp'))!;
      const file = path.join(dir, staged);
      const sd = readSafetensors(file);
      const w = sd.tensors.get('stage1.0.rbr_reparam.weight')!;
      const at = (w.data as { range: { offset: number } }).range.offset + 2;
      sd.close?.();
      const fd = fs.openSync(file, 'r+');
      const b = Buffer.alloc(1);
      fs.readSync(fd, b, 0, 1, at);
      b[0] ^= 0x40;
      fs.writeSync(fd, b, 0, 1, at);
      fs.closeSync(fd);
      tampered = staged;
    };
    await expect(convert(train, out, { onEvent, verifyOptions: { ep: 'cpu' } })).rejects.toBeInstanceOf(CheckFailedError);
    expect(tampered).not.toBe('');
    expect(fs.readdirSync(dir).filter((f) => f.includes('tampered'))).toEqual([]);
  });

  test.each(['safetensors', 'pth', 'wts', 'onnx'])('verify train.pth deploy.%s passes on a true pair', async (ext) => {
    const out = path.join(dir, `deploy.${ext}`);
    await convert(train, out, { verify: false, inputShape: [1, 3, 32, 32] });
    const r = await verify(train, out, { ep: 'cpu', inputShapes: { '*': [1, 3, 32, 32] } });
    expect(r.ok).toBe(true);
    expect(r.reference).toBe(train);
    expect(r.candidate).toBe(out);
    expect(r.outputs.output.maxAbsError).toBeLessThan(1e-5);
  });

  test('deploy weights of another model fail the check, naming the weight', async () => {
    const other = path.join(FIXTURES, 'ckpt', 'official-g2-se', 'deploy_expected.safetensors');
    await expect(verify(train, other, { ep: 'cpu' })).rejects.toThrow(/holds 288 values for 'stage1\.1\.rbr_reparam\.weight', where the training weights make 576/);
  });

  test('a training ONNX against deploy weights is a usage error that says what pairs work', async () => {
    const e = await verify(path.join(caseDir('repvgg-bn'), 'train.onnx'), path.join(FIXTURES, 'ckpt', 'official', 'deploy_expected.safetensors')).catch((x) => x);
    expect(e).toBeInstanceOf(UserError);
    expect(e.message).toMatch(/an ONNX training model is checked against a deploy ONNX/);
    expect(e.hint).toMatch(/verify train\.pth deploy\.safetensors/);
  });

  test('a deploy checkpoint as the reference is refused: it has nothing to merge', async () => {
    const deployed = path.join(FIXTURES, 'ckpt', 'official', 'deploy_expected.safetensors');
    await expect(verify(deployed, deployed)).rejects.toThrow(/already in deploy form/);
  });
});

describe('naming the block of a checkpoint pair', () => {
  const dir = tempDir();
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** A copy of a deploy .safetensors with one tensor's values scaled by 1.5. */
  function changed(file: string, key: string): string {
    const sd = readSafetensors(file);
    const range = (sd.tensors.get(key)!.data as { range: { offset: number; length: number } }).range;
    sd.close?.();
    const bytes = fs.readFileSync(file);
    for (let at = range.offset; at < range.offset + range.length; at += 4) bytes.writeFloatLE(bytes.readFloatLE(at) * 1.5, at);
    const out = path.join(dir, `changed-${path.basename(path.dirname(file))}.safetensors`);
    fs.writeFileSync(out, bytes);
    return out;
  }

  test('a classifier: the check fails, and names the block whose weight changed', async () => {
    const deploy = path.join(dir, 'official.safetensors');
    await convert(train, deploy, { verify: false });
    const r = await verify(train, changed(deploy, 'stage2.1.rbr_reparam.weight'), { ep: 'cpu' });
    expect(r.ok).toBe(false);
    expect(r.firstDifference!.node).toBe('/stage2.1/rbr_reparam/Conv');
    expect(r.blocks!.slice(0, r.blocks!.indexOf(r.firstDifference!)).every((b) => b.ok)).toBe(true);
  });

  test.each(['yolov6', 'yolov7', 'dbb', 'acnet'])('%s (no whole architecture): each block is checked on its own, and the changed one is named', async (c) => {
    const trainFile = path.join(FIXTURES, 'ckpt', c, 'train.safetensors');
    const deploy = path.join(dir, `${c}.safetensors`);
    const ok = await convert(trainFile, deploy, { verifyOptions: { ep: 'cpu' } });
    expect(ok.verify!.ok).toBe(true);
    expect(ok.verify!.blockwise).toBe(true);
    expect(Object.keys(ok.verify!.outputs).length).toBe(ok.checkpoint!.blocks.length);
    const key = ok.checkpoint!.blocks[1].deploy!.weight;
    const r = await verify(trainFile, changed(deploy, key), { ep: 'cpu' });
    expect(r.ok).toBe(false);
    expect(r.firstDifference!.value).toBe(ok.checkpoint!.blocks[1].name);
    expect(Object.values(r.outputs).filter((o) => !o.ok).length).toBe(1);
  });
});
