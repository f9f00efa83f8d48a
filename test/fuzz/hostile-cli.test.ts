// Every kind of hostile or malformed input, end to end through the command line: exit 2, a one-line message
// that says what the file is not and where (plus a fix line when there is one), no stack trace unless --debug,
// no output written, an existing output left as it was, the input unchanged and never opened for writing,
// and nothing run.
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { promisify } from 'util';
import { tempDir } from '../helpers/fixtures';
import { HOSTILE, HostileCase } from './hostile-files';

const BIN = path.join(__dirname, '..', '..', 'bin', 'repvgg-convert.js');
const RECORDER = path.join(__dirname, 'record-writes.js');
const SENTINEL = '/tmp/repvgg-convert-fixture-pwned';
const run = promisify(execFile);

interface Run {
  readonly code: number;
  readonly stderr: string;
  /** What the recorder saw: writes to the input, child processes. */
  readonly recorded: string;
}

async function cli(dir: string, input: string, args: readonly string[]): Promise<Run> {
  const log = path.join(dir, 'recorded.log');
  fs.writeFileSync(log, '');
  const env = { ...process.env, RECORD_WRITES_LOG: log, RECORD_WRITES_PATHS: input };
  try {
    // A heap of 1 GB: a reader whose memory follows what a hostile file says, not what it holds, dies here.
    const r = await run(process.execPath, ['--max-old-space-size=1024', '-r', RECORDER, BIN, ...args], { env, encoding: 'utf8' });
    return { code: 0, stderr: r.stderr, recorded: fs.readFileSync(log, 'utf8') };
  } catch (e) {
    const err = e as { code?: number; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, stderr: err.stderr ?? '', recorded: fs.readFileSync(log, 'utf8') };
  }
}

function snapshot(p: string): { bytes?: Buffer; mtimeMs: number; entries?: string[] } {
  const st = fs.statSync(p);
  if (st.isDirectory()) return { mtimeMs: st.mtimeMs, entries: fs.readdirSync(p).sort() };
  // a named pipe is never read here: that would wait for a writer
  return st.isFile() ? { bytes: fs.readFileSync(p), mtimeMs: st.mtimeMs } : { mtimeMs: st.mtimeMs };
}

describe('hostile inputs on the command line', () => {
  const root = tempDir();
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  test.concurrent.each(HOSTILE.map((c) => [c.name, c] as const))('refuses %s', async (_name, c: HostileCase) => {
    const dir = fs.mkdtempSync(path.join(root, 'case-'));
    const inDir = path.join(dir, 'in');
    const outDir = path.join(dir, 'out');
    fs.mkdirSync(inDir);
    fs.mkdirSync(outDir);
    const input = c.make(inDir);
    let output: string;
    if (c.out === 'same') output = input;
    else if (c.out === 'symlink') {
      output = path.join(outDir, 'link.onnx');
      fs.symlinkSync(input, output);
    } else {
      output = path.join(outDir, `existing${c.out}`);
      fs.writeFileSync(output, 'an earlier output, to be kept');
    }
    const inputBefore = snapshot(input);
    const outBefore = fs.readdirSync(outDir).sort();
    const existingBefore = c.out.startsWith('.') ? fs.readFileSync(output) : undefined;

    const r = await cli(dir, input, [input, output]);

    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 2, stderr: expect.stringMatching(c.message) });
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^error: /);
    expect(lines.slice(1)).toEqual(lines.length > 1 ? [expect.stringMatching(/^ {2}fix: \S/)] : []);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    // nothing written: the output folder holds what it held, an earlier output is unchanged
    expect(fs.readdirSync(outDir).sort()).toEqual(outBefore);
    if (existingBefore) expect(fs.readFileSync(output).equals(existingBefore)).toBe(true);
    // the input is as it was and was never opened for writing; nothing was run
    expect(snapshot(input)).toEqual(inputBefore);
    expect(r.recorded).toBe('');
    expect(fs.existsSync(SENTINEL)).toBe(false);
  });

  test('--debug adds the stack trace to a refusal', async () => {
    const dir = fs.mkdtempSync(path.join(root, 'debug-'));
    const input = path.join(dir, 'text.onnx');
    fs.writeFileSync(input, 'not a model\n');
    const r = await cli(dir, input, [input, path.join(dir, 'out.onnx'), '--debug']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: .*is not an ONNX model/);
    expect(r.stderr).toMatch(/^\s+at /m);
  });

  test('the recorder sees a write to a watched file (so an empty record means something)', async () => {
    const dir = fs.mkdtempSync(path.join(root, 'recorder-'));
    const watched = path.join(dir, 'watched.onnx');
    const log = path.join(dir, 'recorded.log');
    fs.writeFileSync(log, '');
    const env = { ...process.env, RECORD_WRITES_LOG: log, RECORD_WRITES_PATHS: watched };
    const script = `const fs = require('fs'); fs.closeSync(fs.openSync(${JSON.stringify(watched)}, 'w')); require('child_process').spawnSync('true');`;
    await run(process.execPath, ['-r', RECORDER, '-e', script], { env });
    expect(fs.readFileSync(log, 'utf8').split('\n')).toEqual([`openSync ${watched} w`, 'spawnSync ran true', '']);
  });
});
