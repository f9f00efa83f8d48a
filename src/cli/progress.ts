// Turns library events into terminal output: phase lines under --verbose, warnings always.
// Bars are drawn only on a TTY and never with --json.
import { EventSink } from '../api/events';
import { Output } from './output';

export function progressPrinter(out: Output): EventSink {
  return (e) => {
    if (e.type === 'warning') out.shout(`warning: ${e.message}`);
    else if (e.type === 'log') out.say(`  [${e.source}] ${e.line}`);
    else if (e.type === 'phase-end' && out.verbose) out.say(`  ${e.phase}: ${(e.ms / 1000).toFixed(2)} s`);
  };
}
