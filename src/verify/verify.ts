// verifyModels: run a reference model (CPU) and a candidate (any provider) on the same inputs (seeded
// random, or read from files: feeds.ts) and compare every output; on request, save the inputs and
// outputs for replaying elsewhere (saved-files.ts). One session per model lives across all samples; each input tensor is
// built once per sample and fed to both sessions as is, or converted once when the candidate takes
// float16 where the reference takes float32. An FP16 candidate gets the FP16 default tolerances and a
// count of what the FP32 tolerances would have failed.
import * as fs from 'fs';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { UserError } from '../errors';
import { halfToFloat } from '../tensor';
import { ErrorAccumulator, ExceedanceCounter, Tolerance } from './compare';
import { DEFAULT_ATOL, DEFAULT_ATOL_FP16, DEFAULT_RTOL, DEFAULT_RTOL_FP16, DEFAULT_SAMPLES, DEFAULT_SEED } from './defaults';
import { prepareFeeds } from './feeds';
import { candidateFeeds, InputDistribution } from './inputs';
import { checkProviderPresent, EP_CHOICES, EpChoice, openCandidate, OpenedSession, openReference } from './providers';
import type { GpuFacts } from './gpu-presence';
import { runtimeVersion } from './runtime';
import type { NullableStats, OutputReport, Precision, PrecisionSource, VerifyReport } from './report';
import { SampleRecorder, checkSaveTargets, SavedFiles } from './saved-files';
import { convertibleFloats } from './shapes';
import { weightElements } from './weight-precision';

export interface VerifyProgress {
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
  onProgress?: (e: VerifyProgress) => void;
}

export async function verifyModels(reference: string, candidate: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const started = performance.now();
  const o = settle(options);
  for (const file of [reference, candidate]) {
    if (!fs.existsSync(file)) throw new UserError(`${file}: no such file`, { code: 'BAD_USAGE' });
  }
  checkProviderPresent(o.ep);
  checkSaveTargets({ inputs: o.saveInputs, results: o.saveResults }, [reference, candidate, ...(o.inputs ?? [])]);
  const progress = options.onProgress ?? (() => {});

  progress({ phase: 'load', done: 0, total: 2 });
  let t = performance.now();
  const ref = await openReference(reference, { optimization: 'disabled' });
  const loadReferenceMs = performance.now() - t;
  progress({ phase: 'load', done: 1, total: 2 });
  let cand: OpenedSession | undefined;
  try {
    t = performance.now();
    cand = await openCandidate(candidate, o.ep, { gpuFacts: options.gpuFacts });
    const loadCandidateMs = performance.now() - t;
    progress({ phase: 'load', done: 2, total: 2 });
    const { precision, source: precisionSource } = o.precision
      ? { precision: o.precision, source: 'option' as const }
      : detectPrecision(cand.session, candidate);
    const fp16 = precision === 'fp16';
    const tol: Tolerance = { atol: o.atol ?? (fp16 ? DEFAULT_ATOL_FP16 : DEFAULT_ATOL), rtol: o.rtol ?? (fp16 ? DEFAULT_RTOL_FP16 : DEFAULT_RTOL) };
    const fp32: Tolerance | undefined = fp16 ? { atol: DEFAULT_ATOL, rtol: DEFAULT_RTOL } : undefined;
    const run = await compareSessions(ref.session, cand.session, { ...o, tol, fp32 }, progress);
    return {
      ok: run.problems.length === 0 && Object.values(run.outputs).every((r) => r.ok),
      ep: cand.ep,
      device: cand.device,
      referenceEp: 'cpu',
      skippedEps: cand.skipped,
      epReason: cand.reason,
      inputsFrom: run.inputsFrom,
      ...(run.inputsFrom === 'random' ? { seed: o.seed, inputDistribution: o.inputDistribution } : {}),
      ...(run.inputNotes.length > 0 ? { inputNotes: run.inputNotes } : {}),
      samples: run.samples,
      precision,
      precisionSource,
      atol: tol.atol,
      rtol: tol.rtol,
      inputs: run.inputs,
      outputs: run.outputs,
      problems: run.problems,
      ...(run.saved ? { saved: run.saved } : {}),
      reference,
      candidate,
      onnxruntime: runtimeVersion(),
      timings: {
        loadReferenceMs,
        loadCandidateMs,
        runReferenceMs: run.runReferenceMs,
        runCandidateMs: run.runCandidateMs,
        compareMs: run.compareMs,
        totalMs: performance.now() - started,
      },
    };
  } finally {
    await ref.session.release();
    await cand?.session.release();
  }
}

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
function detectPrecision(cand: InferenceSession, file: string): { precision: Precision; source: PrecisionSource } {
  const io = [...cand.inputMetadata, ...cand.outputMetadata];
  if (io.some((m) => m.isTensor && m.type === 'float16')) return { precision: 'fp16', source: 'inputs-outputs' };
  const w = weightElements(file);
  if (w.float16 > w.float32) return { precision: 'fp16', source: 'weights' };
  return { precision: 'fp32', source: 'default' };
}

interface Comparing extends Settled {
  tol: Tolerance;
  /** For an FP16 candidate: the FP32 tolerances, to count what they would fail. */
  fp32?: Tolerance;
}

interface SessionComparison {
  samples: number;
  inputsFrom: 'random' | readonly string[];
  inputNotes: readonly string[];
  saved?: SavedFiles;
  inputs: Record<string, { dtype: string; candidateDtype?: string; shape: readonly number[] }>;
  outputs: Record<string, OutputReport>;
  problems: string[];
  runReferenceMs: number;
  runCandidateMs: number;
  compareMs: number;
}

async function compareSessions(
  ref: InferenceSession,
  cand: InferenceSession,
  o: Comparing,
  progress: (e: VerifyProgress) => void,
): Promise<SessionComparison> {
  const source = prepareFeeds(ref.inputMetadata, cand.inputMetadata, o);
  const plan = source.plan;
  const problems = [...plan.problems];
  const inputs = Object.fromEntries(
    plan.inputs.map((i) => [i.name, { dtype: i.dtype, ...(i.candidateDtype ? { candidateDtype: i.candidateDtype } : {}), shape: i.shape }]),
  );
  const result: SessionComparison = { samples: source.samples, inputsFrom: source.from, inputNotes: source.notes, inputs, outputs: {}, problems, runReferenceMs: 0, runCandidateMs: 0, compareMs: 0 };
  if (problems.length > 0) return result;

  const candOutputs = new Set(cand.outputNames);
  const fetch = ref.outputNames.filter((n) => candOutputs.has(n));
  const missing = ref.outputNames.filter((n) => !candOutputs.has(n));
  const extra = cand.outputNames.filter((n) => !ref.outputNames.includes(n));
  if (missing.length > 0) problems.push(`the candidate lacks output${missing.length > 1 ? 's' : ''} ${missing.map((n) => `"${n}"`).join(', ')}`);
  if (extra.length > 0) problems.push(`the candidate has extra output${extra.length > 1 ? 's' : ''} ${extra.map((n) => `"${n}"`).join(', ')}`);
  if (fetch.length === 0) return result;

  const recorder = o.saveInputs !== undefined || o.saveResults !== undefined ? new SampleRecorder({ inputs: o.saveInputs, results: o.saveResults }) : undefined;
  const tracks = new Map<string, Track>();
  for (let sample = 0; sample < source.samples; sample++) {
    const feeds = source.next();
    const converted = candidateFeeds(plan.inputs, feeds);
    let t = performance.now();
    const r = await ref.run(feeds, fetch);
    result.runReferenceMs += performance.now() - t;
    t = performance.now();
    const c = await cand.run(converted, fetch);
    result.runCandidateMs += performance.now() - t;
    recorder?.add(feeds, r, c);
    t = performance.now();
    for (const name of fetch) {
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
    progress({ phase: 'run', done: sample + 1, total: source.samples });
  }
  result.saved = recorder?.write();
  for (const [name, track] of tracks) {
    const base = {
      dtype: track.dtype,
      ...(track.candidateDtype !== track.dtype ? { candidateDtype: track.candidateDtype } : {}),
      shape: track.shape,
    };
    if (track.problem) {
      problems.push(`output "${name}": ${track.problem}`);
      result.outputs[name] = { ok: false, ...base, problem: track.problem, ...NULL_STATS };
    } else {
      const stats = track.acc.result();
      const fp32Exceed = track.fp32?.result();
      // NaN matches NaN: a reference that is non-finite everywhere (random weights fed as inputs, say)
      // would let any candidate that is also non-finite pass.
      const nonFinite = stats.nanCount.reference + stats.infCount.reference;
      const problem = stats.elements > 0 && nonFinite === stats.elements ? `every reference value (${stats.elements}) is NaN or infinite, so the comparison shows nothing` : undefined;
      if (problem) problems.push(`output "${name}": ${problem}`);
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
};
