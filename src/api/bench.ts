// bench(): both models timed, interleaved, on one provider, as a library call.
import type { BenchOptions, BenchReport } from '../bench';
import { requireFile } from '../formats/registry';
import { checkOptions } from '../options';
import { EventSink } from './events';
import { resolveInputShapes } from './model-info';
import { BENCH_OPTION_KINDS } from './option-kinds';

export interface BenchPairOptions extends Omit<BenchOptions, 'onProgress'> {
  /** Progress (warm-up and timed runs) as convert() reports it. */
  readonly onEvent?: EventSink;
}

export async function bench(train: string, deploy: string, options: BenchPairOptions = {}): Promise<BenchReport> {
  checkOptions(BENCH_OPTION_KINDS, options, 'bench()');
  const { onEvent, ...rest } = options;
  requireFile(train, 'training model');
  requireFile(deploy, 'deploy model');
  const emit = onEvent ?? (() => {});
  emit({ type: 'phase-start', phase: 'bench' });
  const started = performance.now();
  try {
    // Loaded on the first call: importing the library does not load the benchmark or onnxruntime.
    const { benchModels } = require('../bench/bench') as typeof import('../bench/bench');
    return await benchModels(train, deploy, {
      ...rest,
      inputShapes: resolveInputShapes(rest.inputShapes, train),
      onProgress: (e) => emit({ type: 'progress', phase: 'bench', done: e.done, total: e.total, unit: 'runs', what: e.phase === 'warmup' ? 'warm-up' : 'timed' }),
    });
  } finally {
    emit({ type: 'phase-end', phase: 'bench', ms: performance.now() - started });
  }
}
