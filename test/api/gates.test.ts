// CI gates: --fail-if-unmerged and --expect-merged fail the run (exit 1) and write nothing when the
// conversion did not merge what a deploy model needs merged.
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { convert, CheckFailedError } from '../../src';
import { builder, int, ints } from '../inspect/graphs';
import { rng } from '../helpers/random';
import { caseDir, tempDir } from '../helpers/fixtures';

const BIN = path.join(__dirname, '..', '..', 'bin', 'repvgg-convert.js');
const onnx = (c: string, f = 'train.onnx') => path.join(caseDir(c), f);

describe('gates', () => {
  const dir = tempDir();
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('--fail-if-unmerged on a deploy model: exit 1, nothing written, and the reason', () => {
    const out = path.join(dir, 'x.onnx');
    const r = spawnSync(process.execPath, [BIN, onnx('repvgg-bn', 'deploy_ref.onnx'), out, '--fail-if-unmerged'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^check failed: nothing was merged/m);
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  test('a training model passes it; a residual sum of activations is no block and does not count', async () => {
    await expect(convert(onnx('repvgg-bn'), path.join(dir, 'a.onnx'), { failIfUnmerged: true, verify: false })).resolves.toBeDefined();
    await expect(convert(onnx('detect-bn'), path.join(dir, 'b.onnx'), { failIfUnmerged: true, verify: false })).resolves.toBeDefined();
  });

  test('a block left unmerged fails it, naming the block and why', async () => {
    const e = await convert(onnx('dilation-mismatch-bn'), path.join(dir, 'c.onnx'), { failIfUnmerged: true, verify: false }).catch((x) => x);
    expect(e).toBeInstanceOf(CheckFailedError);
    expect(e.message).toMatch(/left unmerged: Add \/features\/features\.1\/Add: .*dilations/);
    expect(fs.existsSync(path.join(dir, 'c.onnx'))).toBe(false);
  });

  test('a training-mode export fails it: its BatchNormalizations stay', async () => {
    const b = builder(rng(11));
    const branch = (k: number, tag: string) => {
      const y = b.g.op(`/blk/${tag}`, 'Conv', [b.x, b.weight(`${tag}.w`, [4, 4, k, k])], [ints('kernel_shape', [k, k]), ints('pads', Array(4).fill(k >> 1))]);
      const stats = ['scale', 'bias', 'mean', 'var'].map((n) => b.weight(`${tag}.${n}`, [4]));
      return b.g.graph.insertNode({ opType: 'BatchNormalization', name: `/blk/${tag}/bn`, inputs: [y, ...stats], outputs: [`${tag}.y`, `${tag}.rm`, `${tag}.rv`], attributes: [int('training_mode', 1)] }).outputs[0];
    };
    const sum = b.g.op('/blk', 'Add', [branch(3, 'dense'), branch(1, 'one')]);
    const file = b.write(dir, 'train-mode.onnx', [1, 4, 8, 8], [[sum, 4]], 15);
    const e = await convert(file, path.join(dir, 'd.onnx'), { failIfUnmerged: true, verify: false }).catch((x) => x);
    expect(e).toBeInstanceOf(CheckFailedError);
    expect(e.message).toMatch(/BatchNormalization nodes left \(the model was exported in training mode\)/);
    fs.rmSync(file);
  });

  test('--expect-merged N holds for exactly N merged blocks', async () => {
    const ok = await convert(onnx('repvgg-bn'), path.join(dir, 'e.onnx'), { expectMerged: 8, verify: false });
    expect(ok.bytesWritten).toBeGreaterThan(0);
    const e = await convert(onnx('repvgg-bn'), path.join(dir, 'f.onnx'), { expectMerged: 9, verify: false }).catch((x) => x);
    expect(e.message).toMatch(/^8 blocks were merged, where --expect-merged says 9/);
    expect(fs.existsSync(path.join(dir, 'f.onnx'))).toBe(false);
  });
});
