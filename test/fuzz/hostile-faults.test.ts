// Faults beyond a file's bytes, end to end through the command line: what the file system holds around a
// model (named pipes, links out of its folder), and that every command refuses them at once, in one line.
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { FIXTURES, tempDir } from '../helpers/fixtures';
import { MAX_NODES } from '../../src/formats/onnx/read';
import { fifo, onnxWithExternal, reluChain } from './hostile-files';

const BIN = path.join(__dirname, '..', '..', 'bin', 'repvgg-convert.js');

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI; one that has not ended after `limitMs` is killed (a hang fails the test, it does not stall it). */
export function cli(args: readonly string[], options: { limitMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--max-old-space-size=1024', BIN, ...args], { env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.limitMs ?? 30_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

const root = tempDir();
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** A folder holding m.onnx, whose tensor w is read from `w.bin`, made by `place`. */
function model(place: (dir: string) => void): string {
  const dir = fs.mkdtempSync(path.join(root, 'm-'));
  place(dir);
  const file = path.join(dir, 'm.onnx');
  fs.writeFileSync(file, onnxWithExternal({ location: 'w.bin' }));
  return file;
}

const oneLine = (r: Run) => {
  expect(r.signal).toBeNull();
  expect(r.code).toBe(2);
  expect(r.stderr.trimEnd().split('\n').filter((l) => !l.startsWith('  fix: '))).toEqual([expect.stringMatching(/^error: /)]);
};

describe('external data that is not a regular file inside the model folder', () => {
  test('inspect refuses a named pipe at once', async () => {
    const r = await cli(['inspect', model((d) => fifo(path.join(d, 'w.bin')))]);
    oneLine(r);
    expect(r.stderr).toMatch(/external data file w\.bin is a named pipe, not a regular file/);
  });

  test('convert refuses a named pipe at once (the open does not wait for a writer)', async () => {
    const m = model((d) => fifo(path.join(d, 'w.bin')));
    const r = await cli([m, path.join(path.dirname(m), 'out.onnx'), '--no-verify']);
    oneLine(r);
    expect(fs.readdirSync(path.dirname(m)).sort()).toEqual(['m.onnx', 'w.bin']);
  });

  test.each(['verify', 'bench'])('%s refuses a reference whose data is a link out of its folder, before onnxruntime reads it', async (command) => {
    const secret = path.join(root, `secret-${command}.bin`);
    fs.writeFileSync(secret, new Uint8Array(64));
    const m = model((d) => fs.symlinkSync(secret, path.join(d, 'w.bin')));
    const ok = model((d) => fs.writeFileSync(path.join(d, 'w.bin'), new Uint8Array(64)));
    const r = await cli([command, m, ok]);
    oneLine(r);
    expect(r.stderr).toMatch(/w: external data location "w\.bin" resolves, through a symbolic link, to a file outside the model's folder/);
  });
});

describe('graphs larger than the reader takes', () => {
  test('a chain of MAX_NODES + 1 nodes is refused before its nodes are decoded', async () => {
    const dir = fs.mkdtempSync(path.join(root, 'big-'));
    const file = path.join(dir, 'chain.onnx');
    fs.writeFileSync(file, reluChain(MAX_NODES + 1));
    const r = await cli([file, path.join(dir, 'out.onnx'), '--no-verify']);
    oneLine(r);
    expect(r.stderr).toMatch(new RegExp(`chain\\.onnx: the graph has ${MAX_NODES + 1} nodes, more than this tool reads`));
    expect(fs.readdirSync(dir)).toEqual(['chain.onnx']);
  });
});

describe('a conversion writes the output it was named and nothing else', () => {
  const TRAIN_PTH = path.join(FIXTURES, 'ckpt', 'official', 'train.pth');

  test('an input named model.pth.json, converted to model.pth, is left as it was', async () => {
    const dir = fs.mkdtempSync(path.join(root, 'side-'));
    const input = path.join(dir, 'model.pth.json');
    fs.copyFileSync(TRAIN_PTH, input);
    const r = await cli([input, path.join(dir, 'model.pth'), '--no-verify']);
    expect(r.code).toBe(0);
    expect(fs.readFileSync(input).equals(fs.readFileSync(TRAIN_PTH))).toBe(true);
    expect(fs.readdirSync(dir).sort()).toEqual(['model.pth', 'model.pth.json']);
  });

  test.each([
    ['.wts', 'file'],
    ['.pth', 'file'],
    ['.wts', 'folder'],
    ['.pth', 'folder'],
  ])('an existing <output>%s.json (a %s) stays as it was and the output is written', async (ext, kind) => {
    const dir = fs.mkdtempSync(path.join(root, 'side-'));
    const out = path.join(dir, `deploy${ext}`);
    if (kind === 'file') fs.writeFileSync(`${out}.json`, 'notes the user keeps');
    else fs.mkdirSync(`${out}.json`);
    const r = await cli([TRAIN_PTH, out, '--no-verify']);
    expect(r.code).toBe(0);
    if (kind === 'file') expect(fs.readFileSync(`${out}.json`, 'utf8')).toBe('notes the user keeps');
    else expect(fs.readdirSync(`${out}.json`)).toEqual([]);
    expect(fs.readdirSync(dir).sort()).toEqual([`deploy${ext}`, `deploy${ext}.json`]);
  });
});
