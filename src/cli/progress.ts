// Turns library events into terminal output. On a TTY (and never with --json or --quiet) each long
// phase draws a bar on stderr; elsewhere only warnings, tool logs and, under --verbose, phase timings
// are printed. NO_COLOR gets plain ASCII bars (the tool prints no colours in any case). cli-progress
// loads with the first bar drawn, so runs that draw none (pipes, CI, --json, --quiet) never load it.
import type * as CliProgress from 'cli-progress';
import type { ConvertEvent, EventSink, Phase } from '../api/events';
import { Output } from './output';

const LABEL: Readonly<Record<Phase, string>> = { read: 'read  ', merge: 'merge ', write: 'write ', verify: 'verify', bench: 'bench ', build: 'build ' };

export interface ProgressPrinter extends EventSink {
  /** Clears any bar still drawn (call before printing a report). */
  stop(): void;
}

export function progressPrinter(out: Output, stream: NodeJS.WriteStream = process.stderr): ProgressPrinter {
  const bars = !!stream.isTTY && !out.json && !out.quiet && process.env.CI !== 'true';
  let bar: CliProgress.SingleBar | undefined;
  const stop = () => {
    bar?.stop();
    bar = undefined;
  };
  const draw = (e: ConvertEvent) => {
    if (e.type === 'phase-start') {
      stop();
      const cliProgress = require('cli-progress') as typeof CliProgress;
      bar = new cliProgress.SingleBar(
        { stream, format: `${LABEL[e.phase]} [{bar}] {percentage}% {value}/{total}`, hideCursor: true, clearOnComplete: true, barsize: 30, noTTYOutput: false },
        process.env.NO_COLOR !== undefined ? cliProgress.Presets.legacy : cliProgress.Presets.shades_classic,
      );
      bar.start(1, 0);
    } else if (e.type === 'progress' && bar) {
      bar.setTotal(Math.max(1, e.total));
      bar.update(e.done);
    } else if (e.type === 'phase-end' && bar) {
      bar.update(bar.getTotal());
      stop();
    }
  };
  const sink = (e: ConvertEvent) => {
    if (e.type === 'warning') {
      stop();
      out.shout(`warning: ${e.message}`);
    } else if (e.type === 'log') {
      stop();
      out.say(`  [${e.source}] ${e.line}`);
    } else {
      if (bars) draw(e);
      if (e.type === 'phase-end' && out.verbose) out.say(`  ${e.phase}: ${(e.ms / 1000).toFixed(2)} s`);
    }
  };
  return Object.assign(sink, { stop });
}
