// The command line as a child process, for the end-to-end hostile tests: its exit, its output, and a
// time limit after which it is killed (a hang fails the test, it does not stall it).
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

export const BIN = path.join(__dirname, '..', '..', 'bin', 'repvgg-convert.js');

export interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI with a 1 GB heap; one that has not ended after `limitMs` is killed. Output is kept as bytes read as latin1, so every byte shows. */
export function cli(args: readonly string[], options: { limitMs?: number; env?: NodeJS.ProcessEnv; nodeArgs?: readonly string[] } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--max-old-space-size=1024', ...(options.nodeArgs ?? []), BIN, ...args], { env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.limitMs ?? 30_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

/** Exit 2 with `error: …` and at most a `  fix: …` line. */
export function expectOneLine(r: Run): void {
  expect(r.signal).toBeNull();
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 2, stderr: expect.stringMatching(/^error: /) });
  expect(r.stderr.trimEnd().split('\n').filter((l) => !l.startsWith('  fix: '))).toEqual([expect.stringMatching(/^error: /)]);
}

/** A model placed as m.onnx in a new folder under `root`, beside an earlier output out.onnx. */
export function modelBeside(root: string, bytes: Uint8Array): { dir: string; file: string; out: string } {
  const dir = fs.mkdtempSync(path.join(root, 'm-'));
  const file = path.join(dir, 'm.onnx');
  fs.writeFileSync(file, bytes);
  const out = path.join(dir, 'out.onnx');
  fs.writeFileSync(out, 'an earlier output');
  return { dir, file, out };
}

/** The earlier output as it was, and nothing in the folder but the model, the output and `more`. */
export function untouched({ dir, out }: { dir: string; out: string }, more: readonly string[] = []): void {
  expect(fs.readFileSync(out, 'utf8')).toBe('an earlier output');
  expect(fs.readdirSync(dir).sort()).toEqual(['m.onnx', 'out.onnx', ...more].sort());
}
