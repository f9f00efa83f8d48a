// `repvgg-convert bench <train> <deploy>`: both models timed interleaved on one provider; the report
// goes to stdout.
import { bench } from '../../api/bench';
import { formatBenchReport } from '../../bench/format';
import { defined, parseInputShapes } from '../args';
import { BenchArgs } from '../flags';
import { Output } from '../output';
import { progressPrinter } from '../progress';

export async function runBench(a: BenchArgs, out: Output): Promise<number> {
  const progress = progressPrinter(out);
  let report;
  try {
    report = await bench(a.train, a.deploy, defined({ ep: a.ep, runs: a.runs, warmup: a.warmup, seed: a.seed, inputShapes: parseInputShapes(a['input-shape']), memoryLimit: a['memory-limit'], timeLimit: a['time-limit'], onEvent: progress }));
  } finally {
    progress.stop();
  }
  out.document(report);
  out.report(formatBenchReport(report));
  return 0;
}
