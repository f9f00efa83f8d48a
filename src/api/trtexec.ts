// Building a TensorRT plan with trtexec, when it is installed. The command line depends on the
// TensorRT generation: TensorRT 11 removed --fp16 (strongly typed networks take their precision from the
// ONNX), so --fp16 is passed only to a trtexec whose --help lists it.
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { UserError } from '../errors';

export interface TrtexecInfo {
  readonly path: string;
  /** Whether `trtexec --help` lists --fp16. */
  readonly hasFp16Flag: boolean;
  readonly version?: string;
}

export function findOnPath(name: string, envPath = process.env.PATH ?? ''): string | undefined {
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      // not in this folder; keep looking
    }
  }
  return undefined;
}

/** Facts from a trtexec --help text. */
export function parseTrtexecHelp(help: string): { hasFp16Flag: boolean; version?: string } {
  const version = /TensorRT\.trtexec \[TensorRT v(\d+)\]/.exec(help)?.[1] ?? /TensorRT v?(\d[\d.]*)/.exec(help)?.[1];
  return { hasFp16Flag: /(^|\s)--fp16\b/m.test(help), version };
}

export function probeTrtexec(explicit?: string): TrtexecInfo | undefined {
  const p = explicit ?? findOnPath('trtexec');
  if (!p) return undefined;
  const r = spawnSync(p, ['--help'], { encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw new UserError(`trtexec at ${p} cannot be run (${r.error.message})`, { code: 'MISSING_RUNTIME' });
  return { path: p, ...parseTrtexecHelp(`${r.stdout}\n${r.stderr}`) };
}

export interface TrtexecPlan {
  readonly onnx: string;
  readonly engine: string;
  readonly fp16: boolean;
  readonly timingCache?: string;
  readonly profile?: { readonly min: string; readonly opt: string; readonly max: string };
}

/** The argument list for trtexec (without the program). */
export function trtexecArgs(plan: TrtexecPlan, info: { hasFp16Flag: boolean }): string[] {
  const args = [`--onnx=${plan.onnx}`, `--saveEngine=${plan.engine}`];
  if (plan.profile) args.push(`--minShapes=${plan.profile.min}`, `--optShapes=${plan.profile.opt}`, `--maxShapes=${plan.profile.max}`);
  if (plan.timingCache) args.push(`--timingCacheFile=${plan.timingCache}`);
  if (plan.fp16 && info.hasFp16Flag) args.push('--fp16');
  return args;
}

export function shellQuote(args: readonly string[]): string {
  return args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** Runs trtexec, passing each log line on; resolves when the engine file exists. */
export function runTrtexec(info: TrtexecInfo, args: readonly string[], onLine: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(info.path, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines = (chunk: Buffer, rest: { s: string }) => {
      const text = rest.s + chunk.toString('utf8');
      const parts = text.split('\n');
      rest.s = parts.pop() ?? '';
      parts.forEach(onLine);
    };
    const out = { s: '' };
    const err = { s: '' };
    child.stdout.on('data', (c: Buffer) => lines(c, out));
    child.stderr.on('data', (c: Buffer) => lines(c, err));
    child.on('error', (e) => reject(new UserError(`trtexec failed to start: ${e.message}`, { code: 'MISSING_RUNTIME' })));
    child.on('close', (code) => {
      if (out.s) onLine(out.s);
      if (err.s) onLine(err.s);
      if (code === 0) resolve();
      else reject(new UserError(`trtexec exited with code ${code}; its log is above`, { code: 'UNSUPPORTED', hint: 'the deploy ONNX was written; run the printed trtexec command by hand to investigate' }));
    });
  });
}
