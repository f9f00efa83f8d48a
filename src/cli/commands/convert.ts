// `repvgg-convert <input> <output>`: the default command.
import type { Argv } from 'yargs';
import { ConversionCheckFailed, convert } from '../../api/convert';
import { OutputFormat } from '../../formats/detect';
import { VerifyArgs, verifyFlags, verifyOptionsFrom } from '../args';
import { Output } from '../output';
import { renderConvert } from '../render';
import { progressPrinter } from '../progress';

export interface ConvertArgs extends VerifyArgs {
  input: string;
  output: string;
  to?: string;
  verify: boolean;
  'bn-eps'?: number;
  'keep-failed': boolean;
  dtype: 'fp32' | 'fp16';
  'keep-io-types': boolean;
}

export function convertCommand(y: Argv): Argv<ConvertArgs> {
  return y
    .positional('input', { type: 'string', demandOption: true, describe: 'training-time model: .onnx, .safetensors or .pth' })
    .positional('output', { type: 'string', demandOption: true, describe: 'deploy model; the format follows the extension (.onnx, .safetensors, .pth, .wts, .plan)' })
    .options({
      to: { type: 'string', choices: ['onnx', 'safetensors', 'pth', 'wts', 'trt'], describe: 'output format, overriding the extension' },
      verify: { type: 'boolean', default: true, describe: 'check the result with onnxruntime before writing it (--no-verify skips)' },
      'bn-eps': { type: 'number', describe: 'BatchNorm epsilon where the model carries none (default 1e-5)' },
      'keep-failed': { type: 'boolean', default: false, describe: 'write the output even when verification fails' },
      dtype: { type: 'string', choices: ['fp32', 'fp16'], default: 'fp32', describe: 'precision of the deploy model (fp16: float16 weights and I/O)' },
      'keep-io-types': { type: 'boolean', default: false, describe: 'with --dtype fp16: keep float32 inputs and outputs, with Casts at the boundary' },
      ...verifyFlags,
    }) as unknown as Argv<ConvertArgs>;
}

export async function runConvert(a: ConvertArgs, out: Output): Promise<number> {
  const verifyOptions = verifyOptionsFrom(a);
  try {
    const res = await convert(a.input, a.output, {
      to: a.to as OutputFormat | undefined,
      verify: a.verify,
      verifyOptions,
      bnEps: a['bn-eps'],
      keepFailed: a['keep-failed'],
      dtype: a.dtype,
      keepIoTypes: a['keep-io-types'],
      onEvent: progressPrinter(out),
    });
    if (out.json) out.report(convertJson(res, true));
    out.say(renderConvert(res, out.verbose));
    return 0;
  } catch (e) {
    if (e instanceof ConversionCheckFailed) {
      if (out.json) out.report(convertJson(e.result, false));
      out.shout(renderConvert(e.result, out.verbose));
    }
    throw e;
  }
}

function convertJson(res: ConversionCheckFailed['result'], ok: boolean) {
  return {
    ok,
    input: res.input,
    output: res.output,
    inputFormat: res.inputFormat,
    outputFormat: res.outputFormat,
    merged: res.reparam.merged,
    opsBefore: res.reparam.opsBefore,
    opsAfter: res.reparam.opsAfter,
    refusals: res.reparam.refusals,
    warnings: res.reparam.warnings,
    verify: res.verify ?? null,
    bytesWritten: res.bytesWritten,
    timings: res.timings,
  };
}
