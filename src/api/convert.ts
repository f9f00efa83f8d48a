// convert(): training-time model in, deploy model out, verified by default before the output is committed.
import { CheckFailedError, UserError } from '../errors';
import { OutputFormat, detectInputFormat, outputFormatFor, samePath } from '../formats/detect';
import { readOnnx } from '../formats/onnx/read';
import { stageOnnx } from '../formats/onnx/write';
import { Fp16Report, toFloat16 } from '../rules/fp16';
import { ReparamReport, reparameterize } from '../rules/pipeline';
import { VerifyOptions, VerifyReport, verifyModels } from '../verify';
import { EventSink, phase } from './events';
import { resolveInputShapes } from './model-info';

export interface ConvertOptions {
  /** Output format; by default it follows the output's extension. */
  readonly to?: OutputFormat;
  /** Run the equivalence check before committing the output. Default true. */
  readonly verify?: boolean;
  readonly verifyOptions?: Omit<VerifyOptions, 'onProgress'>;
  /** Epsilon for BatchNormalizations that carry none (checkpoints). Default 1e-5. */
  readonly bnEps?: number;
  /** Precision of the deploy model. Default 'fp32'. */
  readonly dtype?: 'fp32' | 'fp16';
  /** With dtype fp16: keep float32 graph inputs/outputs, casting at the boundary. */
  readonly keepIoTypes?: boolean;
  /** Write the output even when verification fails (it still reports the failure). */
  readonly keepFailed?: boolean;
  readonly onEvent?: EventSink;
}

export interface ConvertResult {
  readonly input: string;
  readonly output: string;
  readonly inputFormat: string;
  readonly outputFormat: OutputFormat;
  readonly reparam: ReparamReport;
  readonly fp16?: Fp16Report;
  readonly verify?: VerifyReport;
  readonly bytesWritten: number;
  readonly timings: Readonly<Record<string, number>>;
}

export async function convert(input: string, output: string, options: ConvertOptions = {}): Promise<ConvertResult> {
  const emit = options.onEvent ?? (() => {});
  const started = performance.now();
  const inputFormat = detectInputFormat(input);
  const outputFormat = outputFormatFor(output, options.to);
  if (samePath(input, output)) throw new UserError(`the output ${output} is the input file; refusing to overwrite it`, { code: 'BAD_USAGE', hint: 'name a different output file' });
  if (inputFormat !== 'onnx' || outputFormat !== 'onnx') {
    throw new UserError(`converting ${inputFormat} to ${outputFormat} is not supported yet`, { code: 'UNSUPPORTED' });
  }
  const read = await phase(emit, 'read', () => readOnnx(input), input);
  const model = read.value;
  try {
    const merge = await phase(emit, 'merge', () => reparameterize(model.graph, { defaultEpsilon: options.bnEps }));
    for (const w of merge.value.warnings) emit({ type: 'warning', message: w });
    const fp16 = options.dtype === 'fp16' ? toFloat16(model, { keepIoTypes: options.keepIoTypes }) : undefined;
    const write = await phase(emit, 'write', () => stageOnnx(output, model), output);
    const staged = write.value;
    let report: VerifyReport | undefined;
    let verifyMs = 0;
    try {
      if (options.verify !== false) {
        const v = await phase(emit, 'verify', () =>
          verifyModels(input, staged.tmp, { ...options.verifyOptions, inputShapes: resolveInputShapes(options.verifyOptions?.inputShapes, input), onProgress: (e) => emit({ type: 'progress', phase: 'verify', done: e.done, total: e.total }) }),
        );
        report = { ...v.value, candidate: output };
        verifyMs = v.ms;
      }
    } catch (e) {
      staged.abort();
      throw e;
    }
    const result: ConvertResult = {
      input,
      output,
      inputFormat,
      outputFormat,
      reparam: merge.value,
      fp16,
      verify: report,
      bytesWritten: staged.result.bytes,
      timings: { readMs: read.ms, mergeMs: merge.ms, writeMs: write.ms, verifyMs, totalMs: performance.now() - started },
    };
    if (report && !report.ok) {
      if (options.keepFailed) staged.commit();
      else staged.abort();
      throw new ConversionCheckFailed(result, options.keepFailed === true);
    }
    staged.commit();
    return result;
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
