// Turns library events into terminal output. On a TTY (never with --json or --quiet, nor under CI=true)
// the running phase draws one line on stderr: a bar when the total is known, the count, its rate and the
// time left. Redraws are throttled by time, not by timers, so a synchronous write still moves its bar.
// Elsewhere only warnings, tool logs and, under --verbose, phase timings are printed.
import type { ConvertEvent, EventSink, Phase, ProgressUnit } from '../api/events';
import { printable } from '../formats/printable';
import { Output } from './output';

const LABEL: Readonly<Record<Phase, string>> = { read: 'read', merge: 'merge', write: 'write', verify: 'verify', bench: 'bench', build: 'build' };
const REDRAW_MS = 100;
const BAR = 24;

export interface ProgressPrinter extends EventSink {
  /** Clears the line still drawn (call before printing a report). */
  stop(): void;
}

interface Count {
  readonly phase: Phase;
  readonly unit: ProgressUnit;
  readonly what?: string;
  readonly started: number;
  readonly startDone: number;
}

export function progressPrinter(out: Output, stream: NodeJS.WriteStream = process.stderr, now: () => number = () => performance.now()): ProgressPrinter {
  const bars = !!stream.isTTY && !out.json && !out.quiet && process.env.CI !== 'true';
  let drawn = false;
  let lastDraw = -Infinity;
  let count: Count | undefined;
  const clear = () => {
    if (drawn) stream.write('\r\x1b[K');
    drawn = false;
  };
  const draw = (line: string) => {
    const width = Math.max(20, (stream.columns || 80) - 1);
    stream.write(`\r${line.length > width ? line.slice(0, width) : line}\x1b[K`);
    drawn = true;
    lastDraw = now();
  };
  const onProgress = (e: Extract<ConvertEvent, { type: 'progress' }>) => {
    const t = now();
    const fresh = !count || count.phase !== e.phase || count.unit !== e.unit || count.what !== e.what;
    if (fresh) count = { phase: e.phase, unit: e.unit, what: e.what, started: t, startDone: e.done };
    const finished = e.total !== undefined && e.done >= e.total;
    if (!fresh && !finished && t - lastDraw < REDRAW_MS) return;
    draw(progressLine(e, count!, t));
  };
  const sink = (e: ConvertEvent) => {
    if (e.type === 'warning') {
      clear();
      // One line each: a newline in one can only come from a name it quotes.
      out.warn(`warning: ${printable(e.message, 4000)}`);
    } else if (e.type === 'log') {
      clear();
      out.note(`  [${printable(e.source)}] ${printable(e.line, 2000)}`);
    } else if (e.type === 'progress') {
      if (bars) onProgress(e);
    } else if (e.type === 'phase-start') {
      count = undefined;
      if (bars) draw(`${LABEL[e.phase].padEnd(7)}${e.detail ? ` ${printable(e.detail)}` : ''}`);
    } else {
      clear();
      count = undefined;
      if (out.verbose) out.note(`  ${e.phase}: ${(e.ms / 1000).toFixed(2)} s`);
    }
  };
  return Object.assign(sink, { stop: clear });
}

/** "write   [######------]  52%  220.0/423.0 MiB  310 MiB/s  1 s left" */
export function progressLine(e: Extract<ConvertEvent, { type: 'progress' }>, c: Count, t: number): string {
  const parts = [LABEL[e.phase].padEnd(6)];
  if (e.what) parts.push(printable(e.what));
  const known = e.total !== undefined && e.total > 0;
  if (known) {
    const f = Math.min(1, e.done / e.total!);
    const fill = Math.round(f * BAR);
    parts.push(`[${'#'.repeat(fill)}${'-'.repeat(BAR - fill)}]`, `${Math.floor(f * 100)}%`.padStart(4));
  }
  parts.push(amount(e.done, e.total, e.unit));
  const seconds = (t - c.started) / 1000;
  const rate = seconds > 0.3 ? (e.done - c.startDone) / seconds : 0;
  if (rate > 0) {
    parts.push(e.unit === 'bytes' ? `${mib(rate)} MiB/s` : `${rate < 10 ? rate.toFixed(1) : rate.toFixed(0)} ${e.unit}/s`);
    if (known && e.done < e.total!) parts.push(`${duration((e.total! - e.done) / rate)} left`);
  }
  return parts.join('  ');
}

const mib = (n: number) => (n / 2 ** 20).toFixed(n < 10 * 2 ** 20 ? 1 : 0);

function amount(done: number, total: number | undefined, unit: ProgressUnit): string {
  if (unit === 'bytes') return total !== undefined ? `${mib(done)}/${mib(total)} MiB` : `${mib(done)} MiB`;
  return total !== undefined ? `${done}/${total} ${unit}` : `${done} ${unit}`;
}

function duration(s: number): string {
  if (s < 60) return `${Math.ceil(s)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - m * 60)} s`;
}
