// convert(): training-time model in, deploy model out, verified by default before the output is committed.
import type { Architecture, CheckpointReport, SchemeName } from '../checkpoint';
import { CheckFailedError, UserError } from '../errors';
import { InputFormat, OutputFormat, detectInputFormat, outputFormatFor, samePath } from '../formats/registry';
import { StagedFile, checkOutputPath } from '../formats/atomic-file';
import { removeStaleStaging } from '../formats/stale-staging';
import { sha256Of } from '../formats/file-hash';
import { placeholder } from '../formats/stamp';
import { Provenance, checkRecord, provenance, stampOutput } from './provenance';
import { expectOutput } from '../formats/sink';
import * as fs from 'fs';
import * as path from 'path';
import { OnnxModel, readOnnx } from '../formats/onnx/read';
import type { TrtReport } from '../rules/trt-friendly';
import { stageOnnx } from '../formats/onnx/write';
import type { Fp16Report } from '../rules/fp16';
import { ReparamReport, reparameterize } from '../rules/pipeline';
import { Fp16Headroom, fp16Headroom } from './fp16-headroom';
import { checkGates, checkpointMergeCount, onnxMergeCount } from './gates';
import { assertFiniteInitializers, assertHasWeights } from '../rules/params';
import { assertRunnable } from '../rules/runnable';
import { VerifyOptions, VerifyReport, prewarmCheck, verifyModels } from '../verify';
import { CheckLimitError } from '../verify/ort-host';
import { CheckFolder } from '../verify/check-folder';
import { EventSink, bytesProgress, phase } from './events';
import { verifyProgress } from './verify';
import { checkpointInputShape, resolveInputShapes } from './model-info';
import { checkOptions } from '../options';
import { CONVERT_OPTION_KINDS } from './option-kinds';
import { inapplicableOptions } from './applicable';

// Loaded where used: an ONNX conversion never needs the checkpoint readers and writers, and the
// TensorRT and FP16 passes only run when asked for. Start-up time is part of every run's wall time.
const checkpoints = () => require('./convert-checkpoint') as typeof import('./convert-checkpoint');
const trtFriendly = () => require('../rules/trt-friendly') as typeof import('../rules/trt-friendly');
const trtexec = () => require('./trtexec') as typeof import('./trtexec');
const fp16Pass = () => require('../rules/fp16') as typeof import('../rules/fp16');

export interface ConvertOptions {
  /** Output format; by default it follows the output's extension. */
  readonly to?: OutputFormat;
  /** Run the equivalence check before committing the output. Default true. */
  readonly verify?: boolean;
  readonly verifyOptions?: Omit<VerifyOptions, 'onProgress'>;
  /** BatchNorm epsilon where the model carries none (checkpoints; ONNX BNs carry their own). Default: the scheme's, 1e-5 for most. */
  readonly bnEps?: number;
  /** Precision of the deploy ONNX. Default 'fp32'. */
  readonly dtype?: 'fp32' | 'fp16';
  /** With dtype fp16: keep float32 graph inputs/outputs, casting at the boundary. */
  readonly keepIoTypes?: boolean;
  /** Checkpoints: read the keys with this scheme instead of detecting it. */
  readonly scheme?: SchemeName;
  /** Checkpoints: the published architecture the weights must match (e.g. 'RepVGG-A0'). */
  readonly arch?: string;
  /** Checkpoints → ONNX: [N, C, H, W] of the input. Default 1x3x224x224. */
  readonly inputShape?: readonly number[];
  /** Checkpoints → ONNX: opset of the graph built. Default 13. */
  readonly opset?: number;
  /** Checkpoints (.pth): the top-level entry to take, e.g. 'model'. */
  readonly entry?: string;
  /** ONNX output: weights in one data file beside the model (always done past protobuf's 2 GiB limit). */
  readonly externalData?: boolean;
  /** TensorRT output (`to: 'trt'` or a .plan/.engine output): keep the batch dim dynamic. */
  readonly dynamicBatch?: boolean;
  /** Largest batch of the dynamic-batch profile. Default 32. */
  readonly maxBatch?: number;
  /** trtexec --timingCacheFile. */
  readonly timingCache?: string;
  /** Path of trtexec; by default it is looked up on PATH. */
  readonly trtexec?: string;
  /** Write the output even when verification fails (it still reports the failure). */
  readonly keepFailed?: boolean;
  /** Fail (nothing written, CheckFailedError) unless exactly this many blocks were merged. */
  readonly expectMerged?: number;
  /** Fail (nothing written, CheckFailedError) when nothing was merged, or a block or a BatchNormalization was left. */
  readonly failIfUnmerged?: boolean;
  readonly onEvent?: EventSink;
}

export interface TrtResult {
  readonly onnx: string;
  readonly engine: string;
  readonly built: boolean;
  /** The trtexec command that builds (or built) the engine. */
  readonly command: string;
  readonly trtexec?: string;
  readonly friendly: TrtReport;
}

export interface ConvertResult {
  readonly input: string;
  readonly output: string;
  readonly inputFormat: string;
  readonly outputFormat: OutputFormat;
  /** ONNX input: what the graph rules did. */
  readonly reparam?: ReparamReport;
  /** Checkpoint input: scheme, blocks, dropped keys. */
  readonly checkpoint?: CheckpointReport;
  readonly architecture?: Architecture;
  readonly fp16?: Fp16Report;
  readonly trt?: TrtResult;
  readonly verify?: VerifyReport;
  /** FP16 output: the float32 deploy graph's check, made before the cast. */
  readonly verifyFp32?: VerifyReport;
  /** FP16 output: each block's largest activation against float16's range, and what must stay float32. */
  readonly fp16Headroom?: Fp16Headroom;
  readonly verifySkipped?: string;
  /** False when the check failed and nothing was written. */
  readonly written?: boolean;
  readonly bytesWritten: number;
  /** What the output records of how it was made (tool, input digest, the check), also stamped in the file. */
  readonly provenance?: Provenance;
  readonly timings: Readonly<Record<string, number>>;
}

export async function convert(input: string, output: string, options: ConvertOptions = {}): Promise<ConvertResult> {
  checkOptions(CONVERT_OPTION_KINDS, options, 'convert()');
  const emit = options.onEvent ?? (() => {});
  const started = performance.now();
  const inputFormat = detectInputFormat(input);
  const outputFormat = outputFormatFor(output, options.to);
  for (const message of inapplicableOptions({ input: inputFormat, output: outputFormat, file: input, options })) emit({ type: 'warning', message });
  // A graph built from a checkpoint takes the one input shape given for the check.
  if (inputFormat !== 'onnx' && options.inputShape === undefined && options.verifyOptions?.inputShapes) {
    options = { ...options, inputShape: checkpointInputShape(options.verifyOptions.inputShapes) };
  }
  const trt = outputFormat === 'trt' ? trtPaths(output) : undefined;
  const onnxOut = trt ? trt.onnx : output;
  if (trt && samePath(input, trt.onnx)) throw new UserError(`the TensorRT-ready ONNX would be written over the input ${input}`, { code: 'BAD_USAGE', hint: 'name the output differently' });
  if (samePath(input, output)) throw new UserError(`the output ${output} is the input file; refusing to overwrite it`, { code: 'BAD_USAGE', hint: 'name a different output file' });
  // Before any reading: a path that cannot take the output fails now, not after the conversion.
  for (const p of trt ? [output, trt.onnx] : [output]) checkOutputPath(p);
  // What a killed run left beside the output (or in the temporary folder) goes now, and is named.
  for (const message of removeStaleStaging(trt ? [output, trt.onnx] : [output])) emit({ type: 'warning', message });
  const verify = options.verify !== false;
  // The deploy output is about the input's size: a large one gets its writer thread while the input is read.
  expectOutput(fs.statSync(input).size);
  // The output records its input's digest (provenance.ts), hashed on a worker thread meanwhile.
  const hash = sha256Of(input);
  try {
    return await convertHashed(input, output, options, { inputFormat, outputFormat, trt, onnxOut, verify, emit, started, inputDigest: hash.digest });
  } finally {
    await hash.stop();
  }
}

interface Plan {
  readonly inputFormat: InputFormat;
  readonly outputFormat: OutputFormat;
  readonly trt?: { readonly onnx: string; readonly engine: string };
  readonly onnxOut: string;
  readonly verify: boolean;
  readonly emit: EventSink;
  readonly started: number;
  readonly inputDigest: Promise<string>;
}

async function convertHashed(input: string, output: string, options: ConvertOptions, plan: Plan): Promise<ConvertResult> {
  const { inputFormat, outputFormat, trt, onnxOut, verify, emit, started, inputDigest } = plan;
  const pending = placeholder();

  let staged: StagedFile<number>;
  let result: ConvertResult;
  let friendly: TrtReport | undefined;
  const trtPass = trt
    ? (m: OnnxModel) => {
        friendly = trtFriendly().makeTrtFriendly(m, { inputShapes: options.verifyOptions?.inputShapes ?? (options.inputShape ? { '*': options.inputShape } : undefined), dynamicBatch: options.dynamicBatch, maxBatch: options.maxBatch });
        friendly.warnings.forEach((w) => emit({ type: 'warning', message: w }));
      }
    : undefined;
  if (inputFormat === 'onnx') {
    if (outputFormat !== 'onnx' && outputFormat !== 'trt') {
      throw new UserError(`an ONNX model converts to ONNX, not ${outputFormat}`, { code: 'UNSUPPORTED', hint: 'for deploy weights (.safetensors, .pth, .wts), convert the training checkpoint instead' });
    }
    const r = await convertOnnxModel(input, onnxOut, { ...options, stamp: pending }, verify, emit, trtPass);
    if ('failedFp32' in r) {
      const failed: ConvertResult = { input, output: onnxOut, inputFormat, outputFormat, reparam: r.reparam, verify: r.failedFp32, written: false, bytesWritten: 0, timings: { ...r.timings, totalMs: performance.now() - started } };
      throw new ConversionCheckFailed(failed, false);
    }
    staged = r.staged;
    result = { input, output: onnxOut, inputFormat, outputFormat, reparam: r.reparam, fp16: r.fp16, verify: r.verify, verifyFp32: r.verifyFp32, ...(r.headroom ? { fp16Headroom: r.headroom } : {}), bytesWritten: r.staged.result, timings: { ...r.timings, totalMs: performance.now() - started } };
  } else {
    if (options.dtype === 'fp16') throw new UserError('--dtype fp16 applies to ONNX input', { code: 'BAD_USAGE', hint: 'convert the checkpoint to .onnx first, then that ONNX with --dtype fp16' });
    const r = await checkpoints().convertCheckpoint(input, onnxOut, { input: inputFormat, output: trt ? 'onnx' : outputFormat }, { ...options, verify, verifyOptions: options.verifyOptions, onnxPass: trtPass, stamp: pending }, emit);
    staged = r.staged;
    result = {
      input, output: onnxOut, inputFormat, outputFormat, checkpoint: r.report, architecture: r.architecture, verify: r.verify, verifySkipped: r.verifySkipped,
      bytesWritten: r.bytesWritten, timings: { ...r.timings, totalMs: performance.now() - started },
    };
  }
  const count = result.reparam ? onnxMergeCount(result.reparam) : result.checkpoint ? checkpointMergeCount(result.checkpoint) : undefined;
  try {
    if (count) checkGates(options, count);
  } catch (e) {
    staged.abort();
    throw e;
  }
  const failed = result.verify !== undefined && !result.verify.ok;
  if (failed && !options.keepFailed) {
    staged.abort();
    throw new ConversionCheckFailed({ ...result, written: false }, false);
  }
  let made: Provenance;
  try {
    await staged.synced;
    const check = result.verify ? checkRecord(result.verify) : { skipped: result.verifySkipped ?? 'not asked for (--no-verify)' };
    const arch = result.architecture ? { arch: result.architecture.name ?? 'custom' } : {};
    made = provenance(input, await inputDigest, check, { ...(result.checkpoint ? { scheme: result.checkpoint.scheme } : {}), ...arch });
    stampOutput(staged.tmp, trt ? 'onnx' : outputFormat, pending, made);
  } catch (e) {
    staged.abort();
    throw e;
  }
  result = { ...result, provenance: made };
  staged.commit();
  if (failed) throw new ConversionCheckFailed({ ...result, written: true }, true);
  if (trt && friendly) return { ...result, trt: await buildEngine(trt, friendly, options, emit) };
  return result;
}

/** The ONNX and engine paths for TensorRT output: model.plan → model.onnx + model.plan; model.onnx → model.onnx + model.plan. */
export function trtPaths(output: string): { onnx: string; engine: string } {
  const ext = path.extname(output).toLowerCase();
  const stem = output.slice(0, output.length - ext.length);
  if (ext === '.onnx') return { onnx: output, engine: `${stem}.plan` };
  return { onnx: `${stem}.onnx`, engine: output };
}

async function buildEngine(paths: { onnx: string; engine: string }, friendly: TrtReport, options: ConvertOptions, emit: EventSink): Promise<TrtResult> {
  const { probeTrtexec, runTrtexec, shellQuote, trtexecArgs } = trtexec();
  const info = probeTrtexec(options.trtexec);
  const args = trtexecArgs({ onnx: paths.onnx, engine: paths.engine, fp16: options.dtype === 'fp16', timingCache: options.timingCache, profile: friendly.profile }, info ?? { hasFp16Flag: false });
  const command = `trtexec ${shellQuote(args)}`;
  if (!info) {
    emit({ type: 'warning', message: `no plan was built: trtexec is not on PATH; build it where TensorRT is installed with: ${command}` });
    return { onnx: paths.onnx, engine: paths.engine, built: false, command, friendly };
  }
  await phase(emit, 'build', () => runTrtexec(info, args, (line) => emit({ type: 'log', source: 'trtexec', line })), info.path);
  return { onnx: paths.onnx, engine: paths.engine, built: true, command: `${info.path} ${shellQuote(args)}`, trtexec: info.path, friendly };
}

async function convertOnnxModel(input: string, output: string, options: ConvertOptions & { readonly stamp: string }, verify: boolean, emit: EventSink, modelPass?: (m: OnnxModel) => void) {
  const read = await phase(emit, 'read', () => readOnnx(input), input);
  const model = read.value;
  try {
    const merge = await phase(emit, 'merge', () => {
      assertHasWeights(model.graph, input);
      const opset = model.opsets.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version;
      assertRunnable(model.graph, opset ?? 13, input);
      const report = reparameterize(model.graph, { defaultEpsilon: options.bnEps, opset });
      assertFiniteInitializers(model.graph);
      return report;
    });
    for (const w of merge.value.warnings) emit({ type: 'warning', message: w });
    const shapes = resolveInputShapes(options.verifyOptions?.inputShapes, input);
    // FP16 tolerances measure what float16 costs, not whether the merge is right: the float32 deploy
    // graph is checked first at the FP32 tolerances, then the float16 file at its own.
    let verifyFp32: VerifyReport | undefined;
    let headroom: Fp16Headroom | undefined;
    if (options.dtype === 'fp16' && verify) {
      const v = await phase(emit, 'verify', () => checkFloat32(input, output, model, { ...options.verifyOptions, precision: 'fp32', inputShapes: shapes, perBlock: true }, emit), 'float32 deploy graph');
      verifyFp32 = { ...v.value, candidate: `${output} (float32, before the cast to float16)` };
      headroom = fp16Headroom(verifyFp32);
      for (const n of headroom?.mustStayFp32 ?? []) emit({ type: 'warning', message: `${n} reaches float16's largest value (65504) on the check's inputs: keep it in float32 (${headroom!.trtexecFlags})` });
      if (!verifyFp32.ok) return { failedFp32: verifyFp32, reparam: merge.value, timings: { readMs: read.ms, mergeMs: merge.ms, writeMs: 0, verifyMs: v.ms } };
    }
    const fp16 = options.dtype === 'fp16' ? fp16Pass().toFloat16(model, { keepIoTypes: options.keepIoTypes }) : undefined;
    modelPass?.(model);
    // A file this run reads back (the check, a TensorRT build) stays in the page cache.
    const direct = !verify && !modelPass;
    // Read back by the check, the staged file syncs meanwhile (commit waits for it).
    const write = await phase(emit, 'write', () => stageOnnx(output, model, { externalData: options.externalData, direct, syncLater: verify, stamp: options.stamp, onProgress: bytesProgress(emit, 'write') }), output);
    const staged: StagedFile<number> = { ...write.value, result: write.value.result.bytes };
    // Written, so every weight was read and found finite (a refused input starts no process):
    // onnxruntime's process starts while the check is set up.
    if (verify) prewarmCheck();
    let report: VerifyReport | undefined;
    let verifyMs = 0;
    try {
      if (verify) {
        const v = await phase(emit, 'verify', () =>
          checkStaged(input, { staged: staged.tmp, output }, {
            ...options.verifyOptions,
            ...(fp16 ? { precision: 'fp16' as const } : {}),
            inputShapes: shapes,
            onProgress: verifyProgress(emit),
          }),
        );
        report = { ...v.value, reference: input, candidate: output };
        verifyMs = v.ms;
      }
    } catch (e) {
      staged.abort();
      throw ourModelRefused(e, staged.tmp, output);
    }
    return { staged, reparam: merge.value, fp16, verify: report, verifyFp32, headroom, timings: { readMs: read.ms, mergeMs: merge.ms, writeMs: write.ms, verifyMs } };
  } finally {
    model.close();
  }
}

/**
 * The check of a staged ONNX output against the input: both read back through our own reader and
 * loaded by onnxruntime with their weights taken from the files themselves (check-folder.ts).
 */
async function checkStaged(input: string, out: { readonly staged: string; readonly output: string }, options: VerifyOptions): Promise<VerifyReport> {
  const folder = CheckFolder.beside(out.output);
  try {
    const candidate = folder.graphFor('candidate', out.staged);
    const reference = folder.graphFor('reference', input);
    try {
      return await verifyModels(reference, candidate, { ...options, probeFolder: folder });
    } catch (e) {
      throw ourModelRefused(renamed(e, reference, input), candidate, out.output);
    }
  } finally {
    folder.remove();
  }
}

/** The model as it stands (float32, before the cast) checked from a check folder beside the output. */
async function checkFloat32(input: string, output: string, model: OnnxModel, options: VerifyOptions, emit: EventSink): Promise<VerifyReport> {
  const folder = CheckFolder.beside(output);
  let file = '';
  try {
    file = folder.put('deploy-fp32', model).path;
    return await verifyModels(folder.graphFor('reference', input), file, { ...options, probeFolder: folder, onProgress: verifyProgress(emit) });
  } catch (e) {
    throw ourModelRefused(e, file, 'the float32 deploy graph');
  } finally {
    folder.remove();
  }
}

/**
 * onnxruntime refusing the model this conversion wrote (the input loaded: the check loads it first) is
 * a bug in the rules, not the input's fault: an internal error, not a user error naming a scratch file.
 */
function ourModelRefused(e: unknown, file: string, output: string): unknown {
  // A limit the check ran into (time, memory) is the limit's, whoever's model ran.
  if (e instanceof CheckLimitError) return renamed(e, file, output);
  if (!(e instanceof UserError) || e.code === 'MISSING_RUNTIME' || !e.message.includes(file)) return e;
  return new Error(`onnxruntime refuses the deploy model this conversion made (${output}): ${e.message.split(file).join(output)}`, { cause: e });
}

/** A user error about a graph in the check folder, said of the file the user named. */
function renamed(e: unknown, file: string, as: string): unknown {
  if (!(e instanceof UserError) || file === as || !e.message.includes(file)) return e;
  const again = e instanceof CheckLimitError ? new CheckLimitError(e.message.split(file).join(as), e.hint ?? '') : new UserError(e.message.split(file).join(as), { code: e.code, hint: e.hint, cause: e });
  return again;
}

/** Verification of a conversion failed; carries the full result so callers can report it. */
export class ConversionCheckFailed extends CheckFailedError {
  constructor(readonly result: ConvertResult, kept: boolean) {
    const problems = result.verify?.problems ?? [];
    const first = result.verify?.firstDifference;
    const what =
      problems.length > 0
        ? `the deploy model could not be compared with the training-time model (${problems.join('; ')})`
        : `the deploy model differs from the training-time model beyond tolerance${first ? `, from ${first.node} on` : ''}`;
    super(`${what}; ${kept ? `${result.output} was written anyway (--keep-failed)` : 'no output was written'}`);
  }
}
