// `repvgg-convert inspect` through the command-line entry: exit codes, the report on stdout (the
// tables, or with --json one JSON document instead), nothing written.
import * as fs from 'fs';
import * as path from 'path';
import { main } from '../../src/cli/main';
import { FIXTURES, caseDir, tempDir } from '../helpers/fixtures';

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = jest.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((stdout += String(s)), true));
  const err = jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((stderr += String(s)), true));
  try {
    const code = await main(args);
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

test('inspect --json: exit 0, one parseable report on stdout; without it, the tables on stdout', async () => {
  const r = await cli('inspect', path.join(caseDir('detect-bn'), 'train.onnx'), '--json');
  expect(r.code).toBe(0);
  const j = JSON.parse(r.stdout);
  expect(j).toMatchObject({ tool: { name: 'repvgg-convert' }, format: 'onnx', form: 'train', onnx: { producer: 'pytorch' } });
  expect(j.blocks.find((b: { name: string }) => b.name === 'res')).toMatchObject({ merges: false });
  expect(j.after.ops).toEqual({ Add: 1, Concat: 2, Constant: 2, Conv: 10, Relu: 8, Resize: 1 });
  expect(r.stderr).toBe('');
  const t = await cli('inspect', path.join(caseDir('detect-bn'), 'train.onnx'));
  expect(t.stderr).toBe('');
  expect(t.stdout).toMatch(/^block\s+branches\s+stride\s+groups\s+identity\s+SE\s+merge$/m);
  expect(t.stdout).toMatch(/^b2\s+3x3 conv\+bn, 1x1 conv\+bn, bn\s+1\s+1\s+yes\s+no\s+yes \(RepVGG 3-branch\)$/m);
  expect(t.stdout).toMatch(/res: no summand is a Conv/);
  expect(t.stdout).toMatch(/^parameters\s+19,572\s+17,820\s+-9\.0%$/m);
});

test('inspect of a checkpoint: the scheme, the form and the counts; --input-shape sets the size counted', async () => {
  const r = await cli('inspect', path.join(FIXTURES, 'ckpt', 'official-g2-se', 'train.pth'), '--input-shape', '1x3x32x32', '--json');
  expect(r.code).toBe(0);
  const j = JSON.parse(r.stdout);
  expect(j.checkpoint.scheme).toBe('official');
  expect(j.inputShapes).toEqual({ input: [1, 3, 32, 32] });
  const t = await cli('inspect', path.join(FIXTURES, 'ckpt', 'official-g2-se', 'train.pth'), '--input-shape', '1x3x32x32', '-q');
  expect(t.stdout).toMatch(/key scheme: official \(detected\)/);
  expect(t.stdout).toMatch(/^stage1\.1\s+3x3 conv\+bn, 1x1 conv\+bn, bn\s+1\s+2\s+yes\s+yes\s+yes \(RepVGG 3-branch\)$/m);
  expect(t.stdout).toMatch(/MACs \(input 1x3x32x32\)/);
});

test('options that do not apply to the input warn on stderr and change nothing', async () => {
  const r = await cli('inspect', path.join(caseDir('repvgg-bn'), 'train.onnx'), '--scheme', 'timm', '--json');
  expect(r.code).toBe(0);
  expect(r.stderr).toMatch(/^warning: --scheme \(scheme\) applies only to checkpoint inputs/);
  expect(JSON.parse(r.stdout).blocks.length).toBeGreaterThan(0);
});

test('an already converted checkpoint says so', async () => {
  const r = await cli('inspect', path.join(FIXTURES, 'ckpt', 'variants', 'deploy.pth'));
  expect(r.code).toBe(0);
  expect(r.stderr).toBe('');
  expect(r.stdout).toMatch(/form: deploy form: nothing to merge or fold \(already converted\)/);
  expect(r.stdout).toMatch(/^stage0\s+3x3 conv\s+2\s+1\s+no\s+no\s+already one conv$/m);
});

test('bad input exits 2 with what the file is not; nothing is written next to it', async () => {
  const dir = tempDir();
  try {
    const bad = path.join(dir, 'model.onnx');
    fs.copyFileSync(path.join(FIXTURES, 'bad', 'truncated.onnx'), bad);
    const r = await cli('inspect', bad, '--json');
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, exitCode: 2, error: { code: 'BAD_INPUT' } });
    expect(r.stderr).toMatch(/model\.onnx is not an ONNX model/);
    expect(fs.readdirSync(dir)).toEqual(['model.onnx']);
    const shape = await cli('inspect', path.join(caseDir('repvgg-bn'), 'train.onnx'), '--input-shape', '1x3xbig');
    expect(shape.code).toBe(2);
    expect(shape.stderr).toMatch(/--input-shape 1x3xbig is not a shape/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
