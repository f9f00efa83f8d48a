// onnxruntime in a process of its own, for the check and the benchmark, under a watchdog. Sessions open
// and run in the host (ort-host-main.ts); this side sends the inputs and gets the outputs back. The
// watchdog stops the host when the run passes its time limit or the host's memory its limit, and every
// waiting call fails with a UserError that says which and how to raise it. A host that dies by itself
// (killed for memory by the system, a crash in native code) is said as such, naming the model. Its
// stdout and stderr are kept here, never shown: onnxruntime's log does not reach the terminal.
import { ChildProcess, spawn } from 'child_process';
import { Socket } from 'net';
import * as fs from 'fs';
import * as path from 'path';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { UserError } from '../errors';
import { scratchFolder } from '../formats/atomic-file';
import { float16Tensor, onnxruntime } from './runtime';

export interface WireTensor {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: ArrayBufferView | readonly string[];
}

export type HostRequest =
  | { readonly id: number; readonly op: 'open'; readonly file: string; readonly options: InferenceSession.SessionOptions }
  | { readonly id: number; readonly op: 'run'; readonly session: number; readonly feeds: Readonly<Record<string, WireTensor>>; readonly fetches?: readonly string[] }
  | { readonly id: number; readonly op: 'release'; readonly session: number };

export type HostReply =
  | { readonly id: number; readonly error: string }
  | {
      readonly id: number;
      readonly session: number;
      readonly inputNames: readonly string[];
      readonly outputNames: readonly string[];
      readonly inputMetadata: readonly InferenceSession.ValueMetadata[];
      readonly outputMetadata: readonly InferenceSession.ValueMetadata[];
    }
  | { readonly id: number; readonly outputs: Readonly<Record<string, WireTensor>>; readonly ms: number }
  | { readonly id: number };

export interface HostLimits {
  /** Wall time the host may run, from its start (ms). */
  readonly timeMs: number;
  /** Resident memory the host may take (bytes). */
  readonly memoryBytes: number;
}

/** The check passed one of its limits (time, memory), or the system stopped onnxruntime: not a bug anywhere. */
export class CheckLimitError extends UserError {
  constructor(message: string, hint: string) {
    super(message, { code: 'BAD_INPUT', hint });
    this.name = 'CheckLimitError';
  }
}

/** How the limits are raised, for the messages (the command line's flags and the library's options). */
const RAISE_TIME = 'if the model is that slow, raise the limit: --time-limit SECONDS (timeLimit)';
const RAISE_MEMORY = 'if the model needs that much, raise the limit: --memory-limit MIB (memoryLimit)';

/** The compiled host script: beside this file in dist/, or in dist/ when this runs from the sources (the tests). */
function hostScript(): string {
  for (const p of [path.join(__dirname, 'ort-host-main.js'), path.join(__dirname, '..', '..', 'dist', 'verify', 'ort-host-main.js')]) {
    if (fs.existsSync(p)) return p;
  }
  throw new Error('dist/verify/ort-host-main.js is missing: build the package (npm run build)');
}

/** Hosts alive in this process: killed when it exits, whatever the reason (a signal handler's exit included). */
const live = new Set<ChildProcess>();
let exitHook = false;

interface Pending {
  resolve(reply: HostReply): void;
  reject(e: unknown): void;
  /** What the call was doing, for messages: "running model.onnx". */
  readonly what: string;
}

const WATCH_MS = 100;

/**
 * The host's own temporary folder, removed when the host ends (and by a signal's cleanup): onnxruntime
 * writes files there while sessions are open (.ses, mat-debug-<pid>.log) and removes them only when it
 * shuts down cleanly, which a killed host does not.
 */
const tempOf = new Map<ChildProcess, { remove(): void }>();

function spawnHost(): ChildProcess {
  const temp = scratchFolder();
  const child = spawn(process.execPath, [hostScript()], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], serialization: 'advanced', env: { ...process.env, TMPDIR: temp.dir, TMP: temp.dir, TEMP: temp.dir } });
  tempOf.set(child, temp);
  child.once('exit', () => removeTemp(child));
  return child;
}

function removeTemp(child: ChildProcess): void {
  tempOf.get(child)?.remove();
  tempOf.delete(child);
}

/** A host started ahead of need (prewarmHost), not yet taken. */
let warm: ChildProcess | undefined;

/**
 * Starts a host now, while the conversion reads and writes, so the check finds Node started and
 * onnxruntime loaded (some 150 ms). The next OrtHost takes it; an unused one dies with this process.
 */
export function prewarmHost(): void {
  if (warm) return;
  const child = spawnHost();
  warm = child;
  live.add(child);
  hookExit();
  child.on('exit', () => {
    live.delete(child);
    if (warm === child) warm = undefined;
  });
  // A warm host must not keep the process alive on its own: neither it, nor its channel, nor its pipes.
  child.unref();
  child.channel?.unref();
  for (const pipe of [child.stdout, child.stderr]) if (pipe && pipe instanceof Socket) pipe.unref();
}

function takeWarm(): ChildProcess | undefined {
  const child = warm;
  warm = undefined;
  if (!child || child.exitCode !== null || child.signalCode !== null) return undefined;
  child.ref();
  child.channel?.ref();
  for (const pipe of [child.stdout, child.stderr]) if (pipe && pipe instanceof Socket) pipe.ref();
  child.removeAllListeners('exit');
  child.once('exit', () => removeTemp(child));
  return child;
}

function hookExit(): void {
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () =>
    live.forEach((c) => {
      c.kill('SIGKILL');
      removeTemp(c);
    }),
  );
}

export class OrtHost {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure?: Error;
  private readonly started = performance.now();
  private readonly watch: NodeJS.Timeout;
  /** The host's output, kept for --debug reports; never printed. */
  private log = '';
  /** Peak resident memory seen (bytes), where it can be read. */
  peakBytes = 0;

  constructor(private readonly limits: HostLimits) {
    this.child = takeWarm() ?? spawnHost();
    live.add(this.child);
    hookExit();
    const keep = (b: Buffer) => (this.log = (this.log + b.toString()).slice(-8192));
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
    this.child.on('message', (r: HostReply) => {
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if ('error' in r) p.reject(new Error(r.error));
      else p.resolve(r);
    });
    this.child.on('exit', (code, signal) => {
      live.delete(this.child);
      clearInterval(this.watch);
      if (!this.failure) this.fail(this.died(code, signal));
    });
    this.child.on('error', (e) => this.fail(e));
    this.watch = setInterval(() => this.check(), WATCH_MS);
    this.watch.unref();
  }

  /** Opens a session in the host; errors carry onnxruntime's message. */
  async open(file: string, options: InferenceSession.SessionOptions): Promise<RemoteSession> {
    const r = (await this.call({ op: 'open', file, options }, `loading ${file}`)) as Extract<HostReply, { session: number }>;
    return new RemoteSession(this, r.session, file, r);
  }

  /** @internal */
  call(request: DistributiveOmit<HostRequest, 'id'>, what: string): Promise<HostReply> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, what });
      this.child.send({ ...request, id } as HostRequest);
    });
  }

  /** Stops the host (sessions and all). */
  close(): void {
    clearInterval(this.watch);
    if (!this.failure) this.failure = new Error('the onnxruntime host was closed');
    this.child.kill('SIGKILL');
    live.delete(this.child);
  }

  /** The host's own output (onnxruntime's log), for a report asked for with --debug. */
  get output(): string {
    return this.log;
  }

  private current(): string {
    const p = [...this.pending.values()].pop();
    return p ? p.what : 'the check';
  }

  private check(): void {
    if (this.failure) return;
    const elapsed = performance.now() - this.started;
    if (elapsed > this.limits.timeMs) {
      this.fail(new CheckLimitError(`the check was stopped after ${fmtSeconds(this.limits.timeMs)}, its time limit, while ${this.current()}; a model that runs this long does far more work than its size suggests`, RAISE_TIME));
      return;
    }
    const rss = residentBytes(this.child.pid);
    if (rss === undefined) return;
    this.peakBytes = Math.max(this.peakBytes, rss);
    if (rss > this.limits.memoryBytes) {
      this.fail(new CheckLimitError(`the check was stopped at ${fmtMiB(rss)} of memory, past its limit of ${fmtMiB(this.limits.memoryBytes)}, while ${this.current()}`, RAISE_MEMORY));
    }
  }

  private died(code: number | null, signal: NodeJS.Signals | null): Error {
    const what = this.current();
    if (signal === 'SIGKILL') {
      return new CheckLimitError(`onnxruntime was killed by the system while ${what}, most likely for want of memory`, 'a lower --memory-limit MIB (memoryLimit) stops the check before the system does');
    }
    if (signal) return new UserError(`onnxruntime crashed (${signal}) while ${what}`, { code: 'BAD_INPUT', hint: 'the model makes onnxruntime fail; check it with onnx.checker.check_model' });
    return new Error(`the onnxruntime host ended (exit code ${code}) while ${what}${this.log ? `; it said: ${lastLine(this.log)}` : ''}`);
  }

  private fail(e: Error): void {
    if (this.failure) return;
    this.failure = e;
    clearInterval(this.watch);
    this.child.kill('SIGKILL');
    live.delete(this.child);
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }
}

/** The session interface the check and the benchmark use, backed by a session in the host. */
export class RemoteSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata: readonly InferenceSession.ValueMetadata[];
  readonly outputMetadata: readonly InferenceSession.ValueMetadata[];
  /** How long the last run took inside the host (ms), without the transfer. */
  lastRunMs = 0;
  private released = false;

  constructor(
    private readonly host: OrtHost,
    private readonly id: number,
    readonly file: string,
    meta: Extract<HostReply, { session: number }>,
  ) {
    this.inputNames = meta.inputNames;
    this.outputNames = meta.outputNames;
    this.inputMetadata = meta.inputMetadata;
    this.outputMetadata = meta.outputMetadata;
  }

  async run(feeds: Readonly<Record<string, Tensor>>, fetches?: readonly string[]): Promise<Record<string, Tensor>> {
    const wire = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { type: t.type, dims: [...t.dims], data: t.data as WireTensor['data'] }]));
    const r = (await this.host.call({ op: 'run', session: this.id, feeds: wire, fetches }, `running ${this.file}`)) as Extract<HostReply, { outputs: unknown }>;
    this.lastRunMs = r.ms;
    return Object.fromEntries(Object.entries(r.outputs).map(([k, w]) => [k, fromWire(w)]));
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    // A host that failed has no sessions left to release.
    await this.host.call({ op: 'release', session: this.id }, `releasing ${this.file}`).catch(() => undefined);
  }
}

function fromWire(w: WireTensor): Tensor {
  if (w.type === 'float16') return float16Tensor(w.data as Uint16Array, w.dims);
  return new (onnxruntime().Tensor)(w.type as 'float32', w.data as Float32Array, w.dims);
}

/** Resident memory of a process, where the system says it cheaply (Linux); undefined elsewhere. */
function residentBytes(pid: number | undefined): number | undefined {
  if (pid === undefined || process.platform !== 'linux') return undefined;
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

const fmtSeconds = (ms: number) => `${+(ms / 1000).toFixed(1)} s`;
const fmtMiB = (b: number) => `${Math.round(b / 2 ** 20)} MiB`;
// onnxruntime colours its log: the escapes go, the words stay.
const lastLine = (s: string) => s.replace(/\u001b\[[0-9;]*m/g, '').trim().split('\n').pop()!.slice(0, 300);

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;
