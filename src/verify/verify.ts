// verifyModels: run a reference model (CPU) and a candidate (any provider) on the same inputs (seeded
// random, or read from files: feeds.ts) and compare every output; on request, save the inputs and
// outputs for replaying elsewhere (saved-files.ts). The sessions run one after the other, each released before the next opens:
// the reference runs every sample and keeps only its outputs, then the candidate runs and is compared,
// so the check holds one model's weights at a time. The inputs are planned from the files themselves
// (model-facts.ts), before any session opens. Each input tensor is built once per sample and fed to both
// models as is, or converted once when the candidate takes float16 where the reference takes float32.
// An FP16 candidate gets the FP16 default tolerances and a count of what the FP32 tolerances would have
// failed.
import * as fs from 'fs';
import type { Tensor } from 'onnxruntime-node';
import { UserError } from '../errors';
import { halfToFloat } from '../tensor';
import { ErrorAccumulator, ExceedanceCounter, Tolerance } from './compare';
import { DEFAULT_ATOL, DEFAULT_ATOL_FP16, DEFAULT_RTOL, DEFAULT_RTOL_FP16, DEFAULT_SAMPLES, DEFAULT_SEED } from './defaults';
import { prepareFeeds } from './feeds';
import { candidateFeeds, InputDistribution } from './inputs';
import { checkDeclared, checkLimits } from './budget';
import { assertRunnableFile } from '../rules/runnable';
import { OrtHost, RemoteSession } from './ort-host';
import { checkProviderPresent, EP_CHOICES, EpChoice, openCandidate, OpenedSession, OpenOptions, openReference, ortReason } from './providers';
import { ModelFacts, modelFacts } from './model-facts';
import { CheckFolder } from './check-folder';
import { Probe, probedPair } from './per-block';
import type { GpuFacts } from './gpu-presence';
import { runtimeVersion } from './runtime';
import type { NullableStats, OutputReport, Precision, PrecisionSource, VerifyReport } from './report';
import { SampleRecorder, checkSaveTargets, SavedFiles } from './saved-files';
import { convertibleFloats } from './shapes';

export interface VerifyProgress {
  /** load: sessions opened (of 2); run: model runs (two a sample: the reference's, then the candidate's). */
  readonly phase: 'load' | 'run';
  readonly done: number;
  readonly total: number;
}

export interface VerifyOptions {
  /** Seed of the input generator (uint32). Default DEFAULT_SEED. */
  seed?: number;
  /** Number of random inputs. Default DEFAULT_SAMPLES. */
  samples?: number;
  /** Full shapes per input name; dynamic dims otherwise come from the models, with batch = 1. */
  inputShapes?: Readonly<Record<string, readonly number[]>>;
  /** Default DEFAULT_ATOL, or DEFAULT_ATOL_FP16 for an FP16 candidate. */
  atol?: number;
  /** Default DEFAULT_RTOL, or DEFAULT_RTOL_FP16 for an FP16 candidate. */
  rtol?: number;
  /**
   * The candidate's precision, which picks the default tolerances. Unset, it is 'fp16' when the
   * candidate has a float16 input or output, or stores more float weights as float16 than as float32.
   */
  precision?: Precision;
  /** Provider for the candidate. Default 'auto': a GPU when there is a real one, else the CPU (see providers.ts). */
  ep?: EpChoice;
  /** What `auto` knows of the machine's GPUs; by default read off the machine (tests stand in their own). */
  gpuFacts?: GpuFacts;
  /** The reference always runs on the CPU provider. */
  referenceEp?: 'cpu';
  /** Default 'normal' (standard normal); 'uniform' draws from [-1, 1). */
  inputDistribution?: InputDistribution;
  /**
   * Inputs from files instead of random ones, each one sample: 'x.npy', 'x.npz' (arrays named after the
   * inputs, or sampleK/NAME for several samples), 'x.bin:1x3x224x224' (raw little-endian bytes of the
   * input's dtype); 'NAME=…' names the input a file feeds. Replaces seed, samples and inputDistribution.
   */
  inputs?: readonly string[];
  /** Save the inputs fed to the reference, every sample, to this .npz. */
  saveInputs?: string;
  /** Save the reference's and the candidate's outputs, every sample, to this .npz. */
  saveResults?: string;
  /**
   * Also compare the values both graphs share at the ends of their blocks (extra outputs), and report
   * the first that differs. A failed check does that by itself, to name the block.
   */
  perBlock?: boolean;
  /** Where the graphs with extra outputs are written (the check folder of a conversion); default a new one in TMPDIR. */
  probeFolder?: CheckFolder;
  /** Memory limit of onnxruntime's process, MiB (see budget.ts for the default). */
  memoryLimit?: number;
  /** Time limit of the check, seconds. Default DEFAULT_TIME_LIMIT_S. */
  timeLimit?: number;
  onProgress?: (e: VerifyProgress) => void;
}

export async function verifyModels(reference: string, candidate: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  if (!options.perBlock) {
    const report = await checkPair(reference, candidate, options);
    // A failure names the first block that differs, where the graphs share the ends of their blocks.
    if (report.ok || report.problems.length > 0) return report;
    const located = await withProbes(reference, candidate, { ...options, saveInputs: undefined, saveResults: undefined });
    return located ? { ...report, blocks: located.blocks, firstDifference: located.firstDifference } : report;
  }
  return (await withProbes(reference, candidate, options)) ?? checkPair(reference, candidate, options);
}

/** The check run on graphs with the values both share at their blocks' ends as extra outputs (per-block.ts); undefined when they share none. */
async function withProbes(reference: string, candidate: string, options: VerifyOptions): Promise<VerifyReport | undefined> {
  const folder = options.probeFolder ? undefined : CheckFolder.inTemp();
  try {
    const p = probedPair(options.probeFolder ?? folder!, reference, candidate);
    if (p.probes.length === 0) return undefined;
    const report = await checkPair(p.reference, p.candidate, options, p.probes);
    return { ...report, reference, candidate };
  } finally {
    folder?.remove();
  }
}

async function checkPair(reference: string, candidate: string, options: VerifyOptions, probes: readonly Probe[] = []): Promise<VerifyReport> {
  const started = performance.now();
  const o = settle(options);
  for (const file of [reference, candidate]) {
    if (!fs.existsSync(file)) throw new UserError(`${file}: no such file`, { code: 'BAD_USAGE' });
  }
  checkSaveTargets({ inputs: o.saveInputs, results: o.saveResults }, [reference, candidate, ...(o.inputs ?? [])]);
  checkProviderPresent(o.ep);
  const progress = options.onProgress ?? (() => {});
  const refFacts = modelFacts(reference);
  const candFacts = modelFacts(candidate);
  const { precision, source: precisionSource } = o.precision ? { precision: o.precision, source: 'option' as const } : detectPrecision(candFacts);
  const fp16 = precision === 'fp16';
  const tol: Tolerance = { atol: o.atol ?? (fp16 ? DEFAULT_ATOL_FP16 : DEFAULT_ATOL), rtol: o.rtol ?? (fp16 ? DEFAULT_RTOL_FP16 : DEFAULT_RTOL) };
  const fp32: Tolerance | undefined = fp16 ? { atol: DEFAULT_ATOL, rtol: DEFAULT_RTOL } : undefined;
  const pair = planPair(refFacts, candFacts, o);
  // What each model declares it computes, with the inputs planned, before onnxruntime runs it.
  for (const file of [reference, candidate]) assertRunnableFile(file);
  const limits = checkLimits(options, [reference, candidate]);
  const shapes = new Map(Object.entries(pair.inputs).map(([k, v]) => [k, v.shape]));
  for (const file of [reference, candidate]) checkDeclared(file, shapes, limits);

  const host = new OrtHost(limits);
  let loadReferenceMs: number;
  let loadCandidateMs: number;
  let runReferenceMs = 0;
  let cand: OpenedSession;
  let run: SessionComparison;
  try {
    progress({ phase: 'load', done: 0, total: 2 });
    let t = performance.now();
    const ref = await openReference(reference, { ...LEAN, host });
    loadReferenceMs = performance.now() - t;
    progress({ phase: 'load', done: 1, total: 2 });
    let referenceOutputs: Record<string, Tensor>[];
    try {
      t = performance.now();
      referenceOutputs = await runAll(ref.session, pair, 'reference', progress);
      runReferenceMs = performance.now() - t;
    } finally {
      await ref.session.release();
    }
    t = performance.now();
    cand = await openCandidate(candidate, o.ep, { ...LEAN, host, gpuFacts: options.gpuFacts });
    loadCandidateMs = performance.now() - t;
    progress({ phase: 'load', done: 2, total: 2 });
    try {
      run = await compareCandidate(cand.session, pair, referenceOutputs, { ...o, tol, fp32 }, progress);
    } finally {
      await cand.session.release();
    }
  } finally {
    host.close();
  }
  // Probes are diagnostics: the verdict is the model's own outputs'.
  const probed = new Set(probes.map((p) => p.value));
  const outputs = Object.fromEntries(Object.entries(run.outputs).filter(([name]) => !probed.has(name)));
  const blocks = probes.map((p) => ({ ...p, ...run.outputs[p.value] }));
  const first = blocks.find((b) => !b.ok);
  return {
    ok: run.problems.length === 0 && Object.values(outputs).every((r) => r.ok),
    ...(probes.length > 0 ? { blocks, ...(first ? { firstDifference: first } : {}) } : {}),
    ep: cand.ep,
    device: cand.device,
    referenceEp: 'cpu',
    skippedEps: cand.skipped,
    epReason: cand.reason,
    inputsFrom: pair.from,
    ...(pair.from === 'random' ? { seed: o.seed, inputDistribution: o.inputDistribution } : {}),
    ...(pair.notes.length > 0 ? { inputNotes: pair.notes } : {}),
    samples: pair.count,
    precision,
    precisionSource,
    atol: tol.atol,
    rtol: tol.rtol,
    inputs: pair.inputs,
    outputs,
    problems: run.problems,
    ...(run.saved ? { saved: run.saved } : {}),
    reference,
    candidate,
    onnxruntime: runtimeVersion(),
    timings: {
      loadReferenceMs,
      loadCandidateMs,
      runReferenceMs,
      runCandidateMs: run.runCandidateMs,
      compareMs: run.compareMs,
      totalMs: performance.now() - started,
    },
  };
}

/**
 * How both sessions open: the graph as written (no optimisation), no weight prepacking and no memory
 * arena, so onnxruntime holds about one copy of the weights and starts at once. The check is about the
 * model's arithmetic, not its speed.
 */
const LEAN: Omit<OpenOptions, 'host'> = { optimization: 'disabled', lean: true };

interface Settled {
  seed: number;
  samples: number;
  atol?: number;
  rtol?: number;
  precision?: Precision;
  ep: EpChoice;
  inputDistribution: InputDistribution;
  inputShapes: Readonly<Record<string, readonly number[]>>;
  inputs?: readonly string[];
  saveInputs?: string;
  saveResults?: string;
}

function settle(options: VerifyOptions): Settled {
  const seed = options.seed ?? DEFAULT_SEED;
  const samples = options.samples ?? DEFAULT_SAMPLES;
  const { atol, rtol, precision } = options;
  const ep = options.ep ?? 'auto';
  const inputDistribution = options.inputDistribution ?? 'normal';
  const bad = (what: string) => new UserError(what, { code: 'BAD_USAGE' });
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw bad(`seed ${seed} is not an integer in [0, 2^32)`);
  if (!Number.isSafeInteger(samples) || samples < 1) throw bad(`samples ${samples} is not a positive integer`);
  if (atol !== undefined && (!(atol >= 0) || !Number.isFinite(atol))) throw bad(`atol ${atol} is not a finite number >= 0`);
  if (rtol !== undefined && (!(rtol >= 0) || !Number.isFinite(rtol))) throw bad(`rtol ${rtol} is not a finite number >= 0`);
  if (precision !== undefined && precision !== 'fp32' && precision !== 'fp16') throw bad(`unknown precision "${precision}" (choose fp32 or fp16)`);
  if (!EP_CHOICES.includes(ep)) throw bad(`unknown execution provider "${ep}" (choose from ${EP_CHOICES.join(', ')})`);
  if (options.referenceEp !== undefined && options.referenceEp !== 'cpu') throw bad('the reference runs on the cpu provider only');
  if (inputDistribution !== 'normal' && inputDistribution !== 'uniform') throw bad(`unknown input distribution "${inputDistribution}"`);
  if (options.inputs !== undefined && (!Array.isArray(options.inputs) || options.inputs.length === 0)) throw bad('inputs lists no files');
  const { inputs, saveInputs, saveResults } = options;
  return { seed, samples, atol, rtol, precision, ep, inputDistribution, inputShapes: options.inputShapes ?? {}, inputs, saveInputs, saveResults };
}

/** FP16 when the candidate's interface has float16, else when most of its float weights are float16. */
function detectPrecision(cand: ModelFacts): { precision: Precision; source: PrecisionSource } {
  if (cand.inputs.some((m) => m.isTensor && m.type === 'float16') || cand.outputTypes.includes('float16')) return { precision: 'fp16', source: 'inputs-outputs' };
  if (cand.weights.float16 > cand.weights.float32) return { precision: 'fp16', source: 'weights' };
  return { precision: 'fp32', source: 'default' };
}

interface Comparing extends Settled {
  tol: Tolerance;
  /** For an FP16 candidate: the FP32 tolerances, to count what they would fail. */
  fp32?: Tolerance;
}

interface SessionComparison {
  outputs: Record<string, OutputReport>;
  problems: string[];
  runCandidateMs: number;
  compareMs: number;
  saved?: SavedFiles;
}

/** The inputs of every sample, the outputs both models are asked for, and what makes the pair unequal before any run. */
interface Pair {
  readonly inputs: Record<string, { dtype: string; candidateDtype?: string; shape: readonly number[] }>;
  readonly fetch: readonly string[];
  readonly problems: readonly string[];
  /** Per sample: the reference's feeds and the candidate's (converted where its input type differs). */
  readonly samples: readonly { readonly reference: Record<string, Tensor>; readonly candidate: Record<string, Tensor> }[];
  /** How many samples the inputs make (none are run when the pair cannot be compared). */
  readonly count: number;
  /** 'random', or the input files, in order. */
  readonly from: 'random' | readonly string[];
  readonly notes: readonly string[];
}

function planPair(ref: ModelFacts, cand: ModelFacts, o: Settled): Pair {
  const source = prepareFeeds(ref.inputs, cand.inputs, o);
  const plan = source.plan;
  const problems = [...plan.problems];
  const inputs = Object.fromEntries(
    plan.inputs.map((i) => [i.name, { dtype: i.dtype, ...(i.candidateDtype ? { candidateDtype: i.candidateDtype } : {}), shape: i.shape }]),
  );
  const candOutputs = new Set(cand.outputs);
  const missing = ref.outputs.filter((n) => !candOutputs.has(n));
  const extra = cand.outputs.filter((n) => !ref.outputs.includes(n));
  if (plan.problems.length === 0) {
    if (missing.length > 0) problems.push(`the candidate lacks output${missing.length > 1 ? 's' : ''} ${missing.map((n) => `"${n}"`).join(', ')}`);
    if (extra.length > 0) problems.push(`the candidate has extra output${extra.length > 1 ? 's' : ''} ${extra.map((n) => `"${n}"`).join(', ')}`);
  }
  const fetch = plan.problems.length > 0 ? [] : ref.outputs.filter((n) => candOutputs.has(n));
  const samples = [];
  if (fetch.length > 0) {
    for (let s = 0; s < source.samples; s++) {
      const feeds = source.next();
      samples.push({ reference: feeds, candidate: candidateFeeds(plan.inputs, feeds) });
    }
  }
  return { inputs, fetch, problems, samples, count: source.samples, from: source.from, notes: source.notes };
}

/** Runs every sample through one model; keeps only the outputs compared. */
async function runAll(session: RemoteSession, pair: Pair, side: 'reference', progress: (e: VerifyProgress) => void): Promise<Record<string, Tensor>[]> {
  const outputs: Record<string, Tensor>[] = [];
  for (const [i, sample] of pair.samples.entries()) {
    outputs.push(await runModel(session, sample[side], pair.fetch));
    progress({ phase: 'run', done: i + 1, total: 2 * pair.samples.length });
  }
  return outputs;
}

/**
 * One run. A model onnxruntime loads but cannot run (a BatchNorm whose statistics are shorter than its
 * channels, a Conv whose weight does not fit its input) is a bad model: said in one line, naming it.
 */
export async function runModel(session: RemoteSession, feeds: Record<string, Tensor>, fetch?: readonly string[]): Promise<Record<string, Tensor>> {
  try {
    return await session.run(feeds, fetch && [...fetch]);
  } catch (e) {
    if (e instanceof UserError) throw e; // the watchdog's, or the host's end
    throw new UserError(`onnxruntime cannot run ${session.file}: ${ortReason((e as Error).message)}`, {
      code: 'BAD_INPUT',
      hint: 'the model does not run as it is; onnx.checker.check_model(onnx.load(path), full_check=True) says where',
      cause: e,
    });
  }
}

async function compareCandidate(
  cand: RemoteSession,
  pair: Pair,
  referenceOutputs: readonly Record<string, Tensor>[],
  o: Comparing,
  progress: (e: VerifyProgress) => void,
): Promise<SessionComparison> {
  const result: SessionComparison = { outputs: {}, problems: [...pair.problems], runCandidateMs: 0, compareMs: 0 };
  const recorder = o.saveInputs !== undefined || o.saveResults !== undefined ? new SampleRecorder({ inputs: o.saveInputs, results: o.saveResults }) : undefined;
  const tracks = new Map<string, Track>();
  for (const [sample, feeds] of pair.samples.entries()) {
    let t = performance.now();
    const c = await runModel(cand, feeds.candidate, pair.fetch);
    result.runCandidateMs += performance.now() - t;
    const r = referenceOutputs[sample];
    recorder?.add(feeds.reference, r, c);
    t = performance.now();
    for (const name of pair.fetch) {
      const rt = r[name] as Tensor;
      const ct = c[name] as Tensor;
      let track = tracks.get(name);
      if (!track) {
        track = { acc: new ErrorAccumulator(o.tol), dtype: rt.type, candidateDtype: ct.type, shape: rt.dims };
        if (o.fp32) track.fp32 = new ExceedanceCounter(o.fp32);
        tracks.set(name, track);
      }
      if (track.problem) continue;
      track.problem = mismatch(rt, ct);
      if (track.problem) continue;
      const dims = rt.dims;
      const [rv, cv] = [numbers(rt), numbers(ct)];
      track.acc.add(rv, cv, dims.length === 2 && dims[1] > 1 ? dims[1] : 0);
      track.fp32?.add(rv, cv);
    }
    result.compareMs += performance.now() - t;
    progress({ phase: 'run', done: pair.samples.length + sample + 1, total: 2 * pair.samples.length });
  }
  result.saved = recorder?.write();
  for (const [name, track] of tracks) {
    const base = {
      dtype: track.dtype,
      ...(track.candidateDtype !== track.dtype ? { candidateDtype: track.candidateDtype } : {}),
      shape: track.shape,
    };
    if (track.problem) {
      result.problems.push(`output "${name}": ${track.problem}`);
      result.outputs[name] = { ok: false, ...base, problem: track.problem, ...NULL_STATS };
    } else {
      const stats = track.acc.result();
      const fp32Exceed = track.fp32?.result();
      // NaN matches NaN: a reference that is non-finite everywhere (random weights fed as inputs, say)
      // would let any candidate that is also non-finite pass.
      const nonFinite = stats.nanCount.reference + stats.infCount.reference;
      const problem = stats.elements > 0 && nonFinite === stats.elements ? `every reference value (${stats.elements}) is NaN or infinite, so the comparison shows nothing` : undefined;
      if (problem) result.problems.push(`output "${name}": ${problem}`);
      result.outputs[name] = { ok: stats.failingElements === 0 && !problem, ...base, ...stats, ...(fp32Exceed ? { fp32Exceed } : {}), ...(problem ? { problem } : {}) };
    }
  }
  return result;
}

interface Track {
  acc: ErrorAccumulator;
  fp32?: ExceedanceCounter;
  dtype: string;
  candidateDtype: string;
  shape: readonly number[];
  problem?: string;
}

/** Why an output cannot be compared; float16 against float32 can (as float32 values). */
function mismatch(r: Tensor, c: Tensor): string | undefined {
  if (!convertibleFloats(r.type, c.type)) return `dtype differs: reference ${r.type}, candidate ${c.type}`;
  const same = r.dims.length === c.dims.length && r.dims.every((d, i) => d === c.dims[i]);
  if (!same) return `shape differs: reference [${r.dims.join(', ')}], candidate [${c.dims.join(', ')}]`;
  if (r.type === 'string') return 'string outputs cannot be compared numerically';
  return undefined;
}

/** Output values as numbers: a view for number arrays, a copy for float16 and 64-bit integers. */
function numbers(t: Tensor): ArrayLike<number> {
  const data = t.data;
  if (t.type === 'float16' && data instanceof Uint16Array) return Float32Array.from(data, halfToFloat);
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Float64Array.from(data, Number);
  if (Array.isArray(data)) throw new TypeError(`cannot compare ${t.type} values`);
  return data as ArrayLike<number>;
}

const NULL_STATS: NullableStats = {
  elements: null,
  failingElements: null,
  maxAbsError: null,
  maxRelError: null,
  meanAbsError: null,
  medianAbsError: null,
  medianOver: null,
  cosineSimilarity: null,
  nanCount: null,
  infCount: null,
  nonFiniteMismatches: null,
  maxAbsCandidate: null,
};
