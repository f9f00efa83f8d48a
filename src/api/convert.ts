// convert(): training-time model in, deploy model out, verified by default before the output is committed.
import type { Architecture, CheckpointReport, SchemeName } from '../checkpoint';
import { CheckFailedError, UserError } from '../errors';
import { OutputFormat, detectInputFormat, outputFormatFor, samePath } from '../formats/detect';
import { StagedFile, writeFileAtomic } from '../formats/atomic-file';
import { readOnnx } from '../formats/onnx/read';
import { stageOnnx } from '../formats/onnx/write';
import { Fp16Report, toFloat16 } from '../rules/fp16';
import { ReparamReport, reparameterize } from '../rules/pipeline';
import { VerifyOptions, VerifyReport, verifyModels } from '../verify';
import { convertCheckpoint, sidecarFor } from './convert-checkpoint';
import { EventSink, phase } from './events';
import { resolveInputShapes } from './model-info';

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
  /** Write the output even when verification fails (it still reports the failure). */
  readonly keepFailed?: boolean;
  readonly onEvent?: EventSink;
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
  readonly verify?: VerifyReport;
  readonly verifySkipped?: string;
  readonly bytesWritten: number;
  readonly timings: Readonly<Record<string, number>>;
}

export async function convert(input: string, output: string, options: ConvertOptions = {}): Promise<ConvertResult> {
  const emit = options.onEvent ?? (() => {});
  const started = performance.now();
  const inputFormat = detectInputFormat(input);
  const outputFormat = outputFormatFor(output, options.to);
  if (samePath(input, output)) throw new UserError(`the output ${output} is the input file; refusing to overwrite it`, { code: 'BAD_USAGE', hint: 'name a different output file' });
  if (options.bnEps !== undefined && !(options.bnEps >= 0 && Number.isFinite(options.bnEps))) throw new UserError(`--bn-eps ${options.bnEps} is not a non-negative number`, { code: 'BAD_USAGE' });
  const verify = options.verify !== false;

  let staged: StagedFile<number>;
  let result: ConvertResult;
  let commit = () => staged.commit();
  if (inputFormat === 'onnx') {
    if (outputFormat !== 'onnx') {
      throw new UserError(`an ONNX model converts to ONNX, not ${outputFormat}`, { code: 'UNSUPPORTED', hint: 'for deploy weights (.safetensors, .pth, .wts), convert the training checkpoint instead' });
    }
    const r = await convertOnnxModel(input, output, options, verify, emit);
    staged = r.staged;
    result = { input, output, inputFormat, outputFormat, reparam: r.reparam, fp16: r.fp16, verify: r.verify, bytesWritten: r.staged.result, timings: { ...r.timings, totalMs: performance.now() - started } };
  } else {
    if (options.dtype === 'fp16') throw new UserError('--dtype fp16 applies to ONNX output', { code: 'BAD_USAGE' });
    const r = await convertCheckpoint(input, output, { input: inputFormat, output: outputFormat }, { ...options, verify, verifyOptions: options.verifyOptions }, emit);
    staged = r.staged;
    const sidecar = sidecarFor(output, outputFormat);
    if (sidecar && r.metadata) {
      const info = { scheme: r.report.scheme, arch: r.architecture?.name ?? (r.architecture ? 'custom' : null), source: input, blocksMerged: r.report.blocks.length, bnEps: r.report.bnEps, writtenBy: 'repvgg-convert' };
      const text = `${JSON.stringify(info, null, 2)}\n`;
      commit = () => {
        staged.commit();
        writeFileAtomic(sidecar, (sink) => sink.write(Buffer.from(text)));
      };
    }
    result = {
      input, output, inputFormat, outputFormat, checkpoint: r.report, architecture: r.architecture, verify: r.verify, verifySkipped: r.verifySkipped,
      bytesWritten: r.bytesWritten, timings: { ...r.timings, totalMs: performance.now() - started },
    };
  }
  if (result.verify && !result.verify.ok) {
    if (options.keepFailed) commit();
    else staged.abort();
    throw new ConversionCheckFailed(result, options.keepFailed === true);
  }
  commit();
  return result;
}

async function convertOnnxModel(input: string, output: string, options: ConvertOptions, verify: boolean, emit: EventSink) {
  const read = await phase(emit, 'read', () => readOnnx(input), input);
  const model = read.value;
  try {
    const merge = await phase(emit, 'merge', () => reparameterize(model.graph, { defaultEpsilon: options.bnEps }));
    for (const w of merge.value.warnings) emit({ type: 'warning', message: w });
    const fp16 = options.dtype === 'fp16' ? toFloat16(model, { keepIoTypes: options.keepIoTypes }) : undefined;
    const write = await phase(emit, 'write', () => stageOnnx(output, model), output);
    const staged: StagedFile<number> = { ...write.value, result: write.value.result.bytes };
    let report: VerifyReport | undefined;
    let verifyMs = 0;
    try {
      if (verify) {
        const v = await phase(emit, 'verify', () =>
          verifyModels(input, staged.tmp, {
            ...options.verifyOptions,
            inputShapes: resolveInputShapes(options.verifyOptions?.inputShapes, input),
            onProgress: (e) => emit({ type: 'progress', phase: 'verify', done: e.done, total: e.total }),
          }),
        );
        report = { ...v.value, candidate: output };
        verifyMs = v.ms;
      }
    } catch (e) {
      staged.abort();
      throw e;
    }
    return { staged, reparam: merge.value, fp16, verify: report, timings: { readMs: read.ms, mergeMs: merge.ms, writeMs: write.ms, verifyMs } };
  } finally {
    model.close();
  }
}

/** Verification of a conversion failed; carries the full result so callers can report it. */
export class ConversionCheckFailed extends CheckFailedError {
  constructor(readonly result: ConvertResult, kept: boolean) {
    super(`the deploy model differs from the training-time model beyond tolerance; ${kept ? `${result.output} was written anyway (--keep-failed)` : 'no output was written'}`);
  }
}
