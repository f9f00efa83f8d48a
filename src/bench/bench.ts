// benchModels: time a train model and its deploy model on the same provider and the same input.
// Each session is created once and the input once; runs alternate train, deploy, train, deploy, ...
// so that whatever drifts during the benchmark (clock boost, heat, other load) hits both alike.
import * as fs from 'fs';
import * as os from 'os';
import type { Tensor } from 'onnxruntime-node';
import { UserError } from '../errors';
import { candidateFeeds, makeFeeds } from '../verify/inputs';
import { checkDeclared, checkLimits } from '../verify/budget';
import { assertRunnableFile } from '../rules/runnable';
import { OrtHost, RemoteSession } from '../verify/ort-host';
import { checkProviderPresent, EP_CHOICES, EpChoice, openCandidate, OpenedSession } from '../verify/providers';
import { runModel } from '../verify/verify';
import { seededRandom } from '../verify/random';
import { runtimeVersion } from '../verify/runtime';
import { planInputs } from '../verify/shapes';
import { DEFAULT_BENCH_SEED, DEFAULT_RUNS, DEFAULT_WARMUP } from './defaults';
import type { BenchReport, LatencyReport } from './report';
import { mean, quantile, spread } from './stats';

export interface BenchProgress {
  readonly phase: 'warmup' | 'run';
  /** Pairs (one train and one deploy run) done. */
  readonly done: number;
  readonly total: number;
}

export interface BenchOptions {
  /** Provider for both models. Default 'cpu'. */
  ep?: EpChoice;
  /** Full shapes per input name; dynamic dims otherwise come from the models, with batch = 1. */
  inputShapes?: Readonly<Record<string, readonly number[]>>;
  /** Timed runs per model. Default DEFAULT_RUNS. */
  runs?: number;
  /** Untimed runs per model before timing. Default DEFAULT_WARMUP. */
  warmup?: number;
  /** Seed of the (standard normal) input. Default DEFAULT_BENCH_SEED. */
  seed?: number;
  /** Memory limit of onnxruntime's process, MiB (see verify/budget.ts for the default). */
  memoryLimit?: number;
  /** Time limit of the whole benchmark, seconds. Default DEFAULT_TIME_LIMIT_S. */
  timeLimit?: number;
  onProgress?: (e: BenchProgress) => void;
}

export async function benchModels(train: string, deploy: string, options: BenchOptions = {}): Promise<BenchReport> {
  const started = performance.now();
  const o = settle(options);
  for (const file of [train, deploy]) {
    if (!fs.existsSync(file)) throw new UserError(`${file}: no such file`, { code: 'BAD_USAGE' });
  }
  checkProviderPresent(o.ep);
  const progress = options.onProgress ?? (() => {});

  for (const file of [train, deploy]) assertRunnableFile(file);
  const limits = checkLimits(options, [train, deploy]);
  const host = new OrtHost(limits);
  let t = performance.now();
  let trainSession: OpenedSession | undefined;
  let deploySession: OpenedSession | undefined;
  try {
    trainSession = await openCandidate(train, o.ep, { host });
    const trainLoadMs = performance.now() - t;
    // The deploy model goes where the train model went, so `auto` cannot split the pair.
    t = performance.now();
    deploySession = await openCandidate(deploy, trainSession.ep, { host });
    const deployLoadMs = performance.now() - t;
    const shapes = new Map<string, readonly number[]>();

    const plan = planInputs(trainSession.session.inputMetadata, deploySession.session.inputMetadata, o.inputShapes, {
      reference: 'train model',
      candidate: 'deploy model',
    });
    if (plan.problems.length > 0) {
      throw new UserError(`${train} and ${deploy} cannot take the same input: ${plan.problems.join('; ')}`, { code: 'BAD_USAGE' });
    }
    for (const i of plan.inputs) shapes.set(i.name, i.shape);
    for (const file of [train, deploy]) checkDeclared(file, shapes, limits);
    const trainFeeds = makeFeeds(plan.inputs, seededRandom(o.seed), 'normal');
    const deployFeeds = candidateFeeds(plan.inputs, trainFeeds);
    const runTrain = runner(trainSession.session, trainFeeds);
    const runDeploy = runner(deploySession.session, deployFeeds);

    for (let i = 0; i < o.warmup; i++) {
      await runTrain();
      await runDeploy();
      progress({ phase: 'warmup', done: i + 1, total: o.warmup });
    }
    const trainMs: number[] = [];
    const deployMs: number[] = [];
    for (let i = 0; i < o.runs; i++) {
      trainMs.push(await runTrain());
      deployMs.push(await runDeploy());
      progress({ phase: 'run', done: i + 1, total: o.runs });
    }

    const batch = plan.inputs[0]?.shape[0] ?? 1;
    const trainReport = latency(train, trainMs, trainLoadMs, batch);
    const deployReport = latency(deploy, deployMs, deployLoadMs, batch);
    return {
      ep: trainSession.ep,
      device: trainSession.device,
      skippedEps: trainSession.skipped,
      runs: o.runs,
      warmup: o.warmup,
      seed: o.seed,
      batch,
      inputs: Object.fromEntries(
        plan.inputs.map((i) => [i.name, { dtype: i.dtype, ...(i.candidateDtype ? { candidateDtype: i.candidateDtype } : {}), shape: i.shape }]),
      ),
      train: trainReport,
      deploy: deployReport,
      speedup: trainReport.p50Ms / deployReport.p50Ms,
      pairedSpeedup: spread(trainMs.map((ms, i) => ms / deployMs[i])),
      onnxruntime: runtimeVersion(),
      logicalCpus: os.cpus().length,
      totalMs: performance.now() - started,
    };
  } finally {
    await trainSession?.session.release();
    await deploySession?.session.release();
    host.close();
  }
}

/** One timed inference, timed where onnxruntime runs (the transfer between processes is not its time). */
function runner(session: RemoteSession, feeds: Record<string, Tensor>): () => Promise<number> {
  return async () => {
    await runModel(session, feeds);
    return session.lastRunMs;
  };
}

function latency(file: string, timesMs: readonly number[], loadMs: number, batch: number): LatencyReport {
  const p50Ms = quantile(timesMs, 0.5);
  return {
    file,
    p50Ms,
    p90Ms: quantile(timesMs, 0.9),
    minMs: timesMs.reduce((a, b) => Math.min(a, b)),
    meanMs: mean(timesMs),
    maxMs: timesMs.reduce((a, b) => Math.max(a, b)),
    throughput: (1000 * batch) / p50Ms,
    loadMs,
    timesMs,
  };
}

interface Settled {
  ep: EpChoice;
  runs: number;
  warmup: number;
  seed: number;
  inputShapes: Readonly<Record<string, readonly number[]>>;
}

function settle(options: BenchOptions): Settled {
  const ep = options.ep ?? 'cpu';
  const runs = options.runs ?? DEFAULT_RUNS;
  const warmup = options.warmup ?? DEFAULT_WARMUP;
  const seed = options.seed ?? DEFAULT_BENCH_SEED;
  const bad = (what: string) => new UserError(what, { code: 'BAD_USAGE' });
  if (!EP_CHOICES.includes(ep)) throw bad(`unknown execution provider "${ep}" (choose from ${EP_CHOICES.join(', ')})`);
  if (!Number.isSafeInteger(runs) || runs < 1) throw bad(`runs ${runs} is not a positive integer`);
  if (!Number.isSafeInteger(warmup) || warmup < 0) throw bad(`warmup ${warmup} is not an integer >= 0`);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw bad(`seed ${seed} is not an integer in [0, 2^32)`);
  return { ep, runs, warmup, seed, inputShapes: options.inputShapes ?? {} };
}
