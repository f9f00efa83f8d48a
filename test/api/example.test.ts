// The example in docs/api.md runs as written, against the built package (self-reference by name).
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { tempDir } from '../helpers/fixtures';

const ROOT = path.join(__dirname, '..', '..');
const EXAMPLE = path.join(ROOT, 'docs', 'examples', 'convert-and-verify.js');

test('docs/api.md shows the example file exactly', () => {
  expect(fs.readFileSync(path.join(ROOT, 'docs', 'api.md'), 'utf8')).toContain(fs.readFileSync(EXAMPLE, 'utf8'));
});

test('the example converts, verifies and prints the merge report', () => {
  const dir = tempDir();
  // Run inside the project so `require('repvgg-convert')` resolves to this package through its exports.
  const work = fs.mkdtempSync(path.join(ROOT, 'node_modules', '.example-'));
  try {
    const r = spawnSync(process.execPath, [EXAMPLE, path.join(ROOT, 'fixtures', 'onnx', 'repvgg-bn', 'train.onnx')], { cwd: work, encoding: 'utf8' });
    expect(r.stderr).toMatch(/verify: \d+ ms/);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/merged: \{ 'RepVGG 2-branch': 5, 'RepVGG 3-branch': 3 \}/);
    expect(r.stdout).toMatch(/verify ok: true/);
    expect(fs.existsSync(path.join(work, 'deploy.onnx'))).toBe(true);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
