// Ctrl-C and SIGTERM at any moment of a conversion: exit 130, nothing left anywhere (beside the output or
// in $TMPDIR, where the check builds its graphs), and a message that names only what the user asked for.
// Each run gets its own TMPDIR, so "nothing left" is exact: the folder is empty afterwards.
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { caseDir, tempDir } from '../helpers/fixtures';

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'repvgg-convert.js');

interface Interrupted {
  readonly code: number | null;
  readonly stderr: string;
  /** What the output's folder held when the signal was sent. */
  readonly scratchAtSignal: readonly string[];
}

/** Runs the CLI and sends `signal` once `ready()` holds (polled every 5 ms). */
function interruptWhen(args: readonly string[], tmp: string, ready: () => boolean, signal: NodeJS.Signals): Promise<Interrupted> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, TMPDIR: tmp } });
    let stderr = '';
    let scratchAtSignal: string[] = [];
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const poll = setInterval(() => {
      if (!ready()) return;
      clearInterval(poll);
      scratchAtSignal = [...fs.readdirSync(tmp), ...fs.readdirSync(path.dirname(args[1]))];
      child.kill(signal);
    }, 5);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearInterval(poll);
      resolve({ code, stderr, scratchAtSignal });
    });
  });
}

/** The check's graphs: a folder beside the output (check-folder.ts), or a scratch folder in TMPDIR. */
const checkFolderIn = (dir: string) => () => fs.readdirSync(dir).some((f) => f.endsWith('.check') || f.startsWith('repvgg-convert-'));

describe('signals', () => {
  const dir = tempDir();
  let model: string;
  beforeAll(() => {
    // A RepVGG-A0-size checkpoint: large enough that its check takes a while after the scratch graphs exist.
    const { generate } = require(path.join(ROOT, 'scripts', 'gen-model.js')) as { generate: (o: object) => { files: { pth: string } } };
    model = generate({ size: 'a0', dir: path.join(dir, 'a0'), formats: ['pth'] }).files.pth;
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test.each(['SIGINT', 'SIGTERM'] as const)('%s during a checkpoint conversion’s check leaves TMPDIR and the output folder as they were', async (signal) => {
    const tmp = fs.mkdtempSync(path.join(dir, 'tmp-'));
    const outDir = fs.mkdtempSync(path.join(dir, 'out-'));
    const r = await interruptWhen([model, path.join(outDir, 'deploy.safetensors')], tmp, checkFolderIn(outDir), signal);
    expect(r.scratchAtSignal.some((f) => f.endsWith('.check'))).toBe(true);
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(new RegExp(`interrupted by ${signal}; no output was written\\n$`));
    expect(fs.readdirSync(tmp)).toEqual([]);
    expect(fs.readdirSync(outDir)).toEqual([]);
  });

  test('SIGINT during the float32 check of an FP16 conversion leaves no deploy-fp32.onnx behind', async () => {
    const tmp = fs.mkdtempSync(path.join(dir, 'tmp-'));
    const outDir = fs.mkdtempSync(path.join(dir, 'out-'));
    const train = path.join(caseDir('repvgg-bn'), 'train.onnx');
    const r = await interruptWhen([train, path.join(outDir, 'deploy.onnx'), '--dtype', 'fp16', '--samples', '400'], tmp, checkFolderIn(outDir), 'SIGINT');
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/interrupted by SIGINT; no output was written\n$/);
    expect(fs.readdirSync(tmp)).toEqual([]);
    expect(fs.readdirSync(outDir)).toEqual([]);
  });
});
