// The command line as a child process, for the end-to-end hostile tests: its exit, its output, and a
// time limit after which it is killed (a hang fails the test, it does not stall it).
import { spawn } from 'child_process';
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
