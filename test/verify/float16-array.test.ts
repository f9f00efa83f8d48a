// Where JavaScript has Float16Array (Node 23 and later), onnxruntime-common would keep float16 inputs
// in one, which the binding of onnxruntime-node reads as 0 bytes. These children stand a Float16Array
// in (a Float32Array subclass, which the binding cannot read as float16 either) on any Node, so the
// guard is exercised here too, and on newer Node the real one is in place anyway.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { caseDir, tempDir } from '../helpers/fixtures';

const LIBRARY = path.join(__dirname, '..', '..', 'dist', 'index.js');
const train = path.join(caseDir('repvgg-bn'), 'train.onnx');

const STAND_IN = `
if (typeof globalThis.Float16Array === 'undefined') {
  Object.defineProperty(globalThis, 'Float16Array', { value: class Float16Array extends Float32Array {}, configurable: true, writable: true });
}
`;

function child(script: string, out: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['-e', STAND_IN + script, LIBRARY, train, out], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const CONVERT = `
const [library, train, out] = process.argv.slice(1);
require(library).convert(train, out, { dtype: 'fp16' }).then(
  (r) => process.stdout.write(JSON.stringify({ ok: r.verify.ok, candidateDtype: r.verify.inputs.input.candidateDtype, float16Array: typeof Float16Array })),
  (e) => { process.stdout.write(JSON.stringify({ error: e.message, code: e.code })); },
);
`;

describe('float16 inputs where Float16Array exists', () => {
  const dir = tempDir();
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('an FP16 model with float16 I/O is verified, and Float16Array is put back', () => {
    const r = child(CONVERT, path.join(dir, 'fp16.onnx'));
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ ok: true, candidateDtype: 'float16', float16Array: 'function' });
    expect(fs.existsSync(path.join(dir, 'fp16.onnx'))).toBe(true);
  });

  test('if a Tensor was made before repvgg-convert loaded the runtime, the check says why it cannot feed float16', () => {
    const first = `require('onnxruntime-node').Tensor; new (require('onnxruntime-node').Tensor)('float32', new Float32Array(1), [1]);\n`;
    const r = child(first + CONVERT, path.join(dir, 'early.onnx'));
    const j = JSON.parse(r.stdout);
    expect(j.code).toBe('UNSUPPORTED');
    expect(j.error).toMatch(/float16 inputs cannot be fed to onnxruntime-node here: onnxruntime-common keeps them in a Float16Array/);
    expect(fs.existsSync(path.join(dir, 'early.onnx'))).toBe(false);
  });
});
