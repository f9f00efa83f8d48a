// `repvgg-convert bench <train> <deploy>`: both models timed interleaved on one provider.
import type { Argv } from 'yargs';
import { resolveInputShapes } from '../../api/model-info';
import { DEFAULT_RUNS, DEFAULT_WARMUP, benchModels, formatBenchReport } from '../../bench';
import { UserError } from '../../errors';
import { requireFile } from '../../formats/detect';
import { EP_CHOICES, EpChoice } from '../../verify/ep-choices';
import { parseInputShapes } from '../args';
import { Output } from '../output';
import { progressPrinter } from '../progress';

export interface BenchArgs {
  train: string;
  deploy: string;
  ep: string;
  runs: number;
  warmup: number;
  seed: number;
  'input-shape'?: string[];
}

export function benchCommand(y: Argv): Argv<BenchArgs> {
  return y
    .positional('train', { type: 'string', demandOption: true, describe: 'the training-time ONNX model' })
    .positional('deploy', { type: 'string', demandOption: true, describe: 'the deploy ONNX model' })
    .options({
      ep: { type: 'string', choices: EP_CHOICES as unknown as string[], default: 'cpu', describe: 'execution provider for both models' },
      runs: { type: 'number', default: DEFAULT_RUNS, describe: 'timed runs per model' },
      warmup: { type: 'number', default: DEFAULT_WARMUP, describe: 'untimed runs per model first' },
      seed: { type: 'number', default: 0, describe: 'seed of the input' },
      'input-shape': { type: 'string', array: true, describe: 'shape of an input: 1x3x224x224 or NAME:1x3x224x224' },
    }) as unknown as Argv<BenchArgs>;
}

export async function runBench(a: BenchArgs, out: Output): Promise<number> {
  requireFile(a.train, 'training model');
  requireFile(a.deploy, 'deploy model');
  for (const [k, v] of Object.entries({ runs: a.runs, warmup: a.warmup })) {
    if (!Number.isInteger(v) || v < (k === 'runs' ? 1 : 0)) throw new UserError(`--${k} ${v} must be a whole number${k === 'runs' ? ' of at least 1' : ''}`, { code: 'BAD_USAGE' });
  }
  const progress = progressPrinter(out);
  progress({ type: 'phase-start', phase: 'bench' });
  let report;
  try {
    report = await benchModels(a.train, a.deploy, {
      ep: a.ep as EpChoice,
      runs: a.runs,
      warmup: a.warmup,
      seed: a.seed,
      inputShapes: resolveInputShapes(parseInputShapes(a['input-shape']), a.train),
      onProgress: (e) => progress({ type: 'progress', phase: 'bench', done: e.phase === 'warmup' ? 0 : e.done, total: e.total }),
    });
  } finally {
    progress.stop();
  }
  if (out.json) out.report(report);
  out.say(formatBenchReport(report));
  return 0;
}
