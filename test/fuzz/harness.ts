// One fuzz case, replayable from its seed: pick a corpus file, mutate it, hand it to the library (a reader,
// or the whole convert pipeline without verification), and sort what happened. The library is passed in,
// so the suite runs it from src/ and scripts/fuzz.js from dist/.
import * as fs from 'fs';
import * as path from 'path';
import { rng } from '../helpers/random';
import { CorpusFile, Format, mutate, PWNED } from './mutate';

interface TensorLike {
  readonly dtype: string;
  readonly shape: readonly number[];
}

interface StateDictLike {
  readonly tensors: ReadonlyMap<string, TensorLike>;
  close?(): void;
}

/** What the fuzzer calls; the suite passes src/, the long run dist/. */
export interface Library {
  detectInputFormat(file: string): Format;
  readOnnx(file: string): { graph: { initializers(): readonly { initializer?: { tensor: TensorLike } }[] }; close(): void };
  readSafetensors(file: string): StateDictLike;
  readPth(file: string): StateDictLike;
  tensorBytes(t: TensorLike): Uint8Array;
  convert(input: string, output: string, options: { verify: false }): Promise<unknown>;
  /** The command line's rendering of a conversion's report (--verbose) and of an error, as a terminal gets them. */
  renderConvert(result: never, verbose: boolean): string;
  classify(e: unknown, debug: boolean): { readonly message: string };
  printableText(s: string): string;
  readonly UserError: abstract new (...args: never[]) => Error;
  readonly CheckFailedError: abstract new (...args: never[]) => Error;
}

export type Outcome =
  | 'accepted'
  | 'refused'
  /** Not one of our error classes: a TypeError, RangeError or internal Error escaped. */
  | 'crash'
  /** Over the per-case time bound. */
  | 'slow'
  | 'wrote-output'
  | 'input-changed'
  | 'ran-code'
  /** A refusal whose message is more than one line. */
  | 'bad-message'
  /** A control character from the file reached what the command line prints, or a line it did not write. */
  | 'raw-escape';

export const BUGS: ReadonlySet<Outcome> = new Set(['crash', 'slow', 'wrote-output', 'input-changed', 'ran-code', 'bad-message', 'raw-escape']);

export interface CaseResult {
  readonly seed: number;
  readonly base: string;
  readonly steps: readonly string[];
  readonly converted: boolean;
  readonly outcome: Outcome;
  readonly ms: number;
  /** The error (class, message, top of the stack) for refusals and bugs. */
  readonly error?: string;
  /** File descriptors on the input still open after the case (closed by the harness). */
  readonly leaked: number;
}

export interface CaseOptions {
  /** Work folder: the mutated input goes in `in/`, outputs in `out/`. */
  readonly dir: string;
  /** Share of cases that run convert() instead of a reader. Default 0.2. */
  readonly convertRate?: number;
  /** Per-case time bound in ms. Default 2000. */
  readonly maxMs?: number;
  /** Keep the mutated input here (for replays). */
  readonly saveTo?: string;
}

const EXT: Readonly<Record<Format, string>> = { onnx: '.onnx', safetensors: '.safetensors', pth: '.pth' };
const CHECKPOINT_OUTPUTS = ['.safetensors', '.pth', '.wts', '.onnx'];

/** The corpus: the committed fixtures (train and deploy models, checkpoints and their variants, bad files). */
export function loadCorpus(fixtures: string): CorpusFile[] {
  const files: CorpusFile[] = [];
  const add = (file: string, format: Format) => files.push({ name: path.relative(fixtures, file), format, bytes: new Uint8Array(fs.readFileSync(file)) });
  for (const c of fs.readdirSync(path.join(fixtures, 'onnx')).sort()) {
    for (const f of ['train.onnx', 'deploy_ref.onnx']) {
      const p = path.join(fixtures, 'onnx', c, f);
      if (fs.existsSync(p)) add(p, 'onnx');
    }
  }
  for (const c of fs.readdirSync(path.join(fixtures, 'ckpt')).sort()) {
    for (const f of fs.readdirSync(path.join(fixtures, 'ckpt', c)).sort()) {
      const p = path.join(fixtures, 'ckpt', c, f);
      if (f.endsWith('.safetensors')) add(p, 'safetensors');
      else if (f.endsWith('.pth')) add(p, 'pth');
    }
  }
  for (const f of fs.readdirSync(path.join(fixtures, 'bad')).sort()) {
    const ext = path.extname(f).slice(1);
    if (ext === 'onnx' || ext === 'safetensors' || ext === 'pth') add(path.join(fixtures, 'bad', f), ext);
  }
  return files;
}

export function prepareDir(dir: string): void {
  for (const d of ['in', 'out']) fs.mkdirSync(path.join(dir, d), { recursive: true });
}

export async function runCase(lib: Library, corpus: readonly CorpusFile[], seed: number, options: CaseOptions): Promise<CaseResult> {
  const r = rng(seed);
  const format = r.pick<Format>(['onnx', 'safetensors', 'pth']);
  const base = r.pick(corpus.filter((c) => c.format === format));
  const m = mutate(r, base, corpus);
  // One case in ten under a misleading extension, so detection by content is exercised too.
  const ext = r.float(0, 1) < 0.1 ? r.pick(['.bin', '.onnx', '.pth', '.safetensors', '']) : EXT[format];
  const convert = r.float(0, 1) < (options.convertRate ?? 0.2);
  const outExt = convert ? r.pick(CHECKPOINT_OUTPUTS) : '';

  const inDir = path.join(options.dir, 'in');
  const outDir = path.join(options.dir, 'out');
  for (const f of fs.readdirSync(inDir)) fs.rmSync(path.join(inDir, f), { force: true });
  const input = path.join(inDir, `fuzz-input${ext}`);
  fs.writeFileSync(input, m.bytes);
  if (options.saveTo) fs.writeFileSync(options.saveTo, m.bytes);

  const descriptors = openDescriptors();
  let outcome: Outcome = 'accepted';
  let error: string | undefined;
  const started = performance.now();
  try {
    const detected = lib.detectInputFormat(input);
    if (convert) {
      const output = path.join(outDir, `out${detected === 'onnx' ? '.onnx' : outExt}`);
      const result = await lib.convert(input, output, { verify: false });
      // What the command line prints: the report through its last guard (cli/output.ts).
      const raw = rawEscape(lib.printableText(lib.renderConvert(result as never, true)));
      if (raw) {
        outcome = 'raw-escape';
        error = `the report prints ${raw}`;
      }
    } else readAll(lib, detected, input);
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    error = `${err.name}: ${err.message}`;
    if (e instanceof lib.UserError || e instanceof lib.CheckFailedError) {
      outcome = /\n/.test(err.message) || /\n/.test(String((e as { hint?: string }).hint ?? '')) ? 'bad-message' : 'refused';
      const raw = rawEscape(lib.classify(e, false).message);
      if (outcome === 'refused' && raw) {
        outcome = 'raw-escape';
        error += `; printed as ${raw}`;
      }
    } else outcome = 'crash';
    // Stacks only for bugs: formatting one costs more than most cases.
    if (outcome !== 'refused') error += topOfStack(err);
  }
  const ms = performance.now() - started;

  const written = fs.readdirSync(outDir);
  if (outcome === 'refused' && written.length) {
    outcome = 'wrote-output';
    error = `${error}\nleft in the output folder: ${written.join(', ')}`;
  }
  for (const f of written) fs.rmSync(path.join(outDir, f), { recursive: true, force: true });
  if (Buffer.compare(fs.readFileSync(input), m.bytes) !== 0) outcome = 'input-changed';
  if (fs.existsSync(PWNED)) outcome = 'ran-code';
  if (ms > (options.maxMs ?? 2000) && !BUGS.has(outcome)) {
    error = `took ${ms.toFixed(0)} ms (${outcome})${error ? `: ${error}` : ''}`;
    outcome = 'slow';
  }
  const leaked = openDescriptors() > descriptors ? closeLeftovers(input) : 0;
  return { seed, base: base.name, steps: m.steps, converted: convert, outcome, ms, error, leaked };
}

/**
 * What of `text` would reach a terminal raw: a control character but the newline and the tab, or a line
 * that starts as the mutator's forged one ("\r\nFAKE: PASSED" in a name). Undefined when nothing.
 */
function rawEscape(text: string): string | undefined {
  const c = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/.exec(text);
  if (c) return `${JSON.stringify(c[0])} raw at ${c.index}`;
  const forged = /^FAKE/m.exec(text);
  if (forged) return `a line it did not write: ${JSON.stringify(text.slice(Math.max(0, forged.index - 40), forged.index + 20))}`;
  return undefined;
}

/** Reads every tensor's bytes, so lazy ranges and strided views are gathered at least once. */
function readAll(lib: Library, format: Format, input: string): void {
  if (format === 'onnx') {
    const model = lib.readOnnx(input);
    try {
      for (const v of model.graph.initializers()) if (v.initializer) lib.tensorBytes(v.initializer.tensor);
    } finally {
      model.close();
    }
    return;
  }
  const sd = format === 'safetensors' ? lib.readSafetensors(input) : lib.readPth(input);
  try {
    for (const t of sd.tensors.values()) lib.tensorBytes(t);
  } finally {
    sd.close?.();
  }
}

function topOfStack(err: Error): string {
  if (!err.stack) return '';
  const frames = err.stack.split('\n').filter((l) => /^\s+at /.test(l)).slice(0, 4);
  return frames.length ? `\n${frames.join('\n')}` : '';
}

function openDescriptors(): number {
  try {
    return fs.readdirSync('/proc/self/fd').length;
  } catch {
    return 0; // not Linux
  }
}

/** Closes descriptors still open on the case's input after the case, and counts them. */
function closeLeftovers(input: string): number {
  let fds: string[];
  let closed = 0;
  try {
    fds = fs.readdirSync('/proc/self/fd');
  } catch {
    return 0; // not Linux: nothing to sweep
  }
  for (const fd of fds) {
    let target: string;
    try {
      target = fs.readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue;
    }
    if (target === input || target.startsWith(`${input} (deleted)`)) {
      fs.closeSync(Number(fd));
      closed++;
    }
  }
  return closed;
}

/** One line per failure, with the command that replays it. */
export function describeFailure(c: CaseResult): string {
  return [
    `seed ${c.seed}: ${c.outcome} on a mutant of ${c.base}${c.converted ? ' (convert)' : ''} after ${c.ms.toFixed(0)} ms`,
    ...c.steps.map((s) => `  - ${s}`),
    ...(c.error ? c.error.split('\n').map((l) => `  | ${l}`) : []),
    `  replay: FUZZ_SEED=${c.seed} npx jest test/fuzz   or   node scripts/fuzz.js --replay ${c.seed}`,
  ].join('\n');
}
