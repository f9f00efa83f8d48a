// `repvgg-convert <input> <output>`: the default command. Its builder also runs for --help and --version,
// so the conversion itself and its report load only when a conversion runs.
import type { Argv } from 'yargs';
import type { ConversionCheckFailed } from '../../api/convert';
import type { OutputFormat } from '../../formats/detect';
import { SCHEME_NAMES, SchemeName } from '../../checkpoint/schemes';
import { VerifyArgs, verifyFlags, verifyOptionsFrom } from '../args';
import { Output } from '../output';
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
  scheme?: SchemeName;
  arch?: string;
  opset?: number;
  entry?: string;
  'external-data': boolean;
  'dynamic-batch': boolean;
  'max-batch': number;
  'timing-cache'?: string;
  trtexec?: string;
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
      scheme: { type: 'string', choices: [...SCHEME_NAMES], describe: 'checkpoints: key naming scheme (detected by default)' },
      arch: { type: 'string', describe: 'checkpoints: published architecture the weights must match, e.g. RepVGG-A0' },
      opset: { type: 'number', describe: 'checkpoint → ONNX: opset of the graph (default 13)' },
      'external-data': { type: 'boolean', default: false, describe: 'ONNX output: weights in one data file beside the model (automatic past 2 GiB)' },
      'dynamic-batch': { type: 'boolean', default: false, describe: 'TensorRT output: keep the batch dim dynamic (prints the --minShapes/--optShapes/--maxShapes)' },
      'max-batch': { type: 'number', default: 32, describe: 'TensorRT output with --dynamic-batch: largest batch of the profile' },
      'timing-cache': { type: 'string', describe: 'TensorRT output: trtexec --timingCacheFile' },
      trtexec: { type: 'string', describe: 'TensorRT output: path of trtexec (default: looked up on PATH)' },
      entry: { type: 'string', describe: ".pth: top-level entry holding the weights (default: the state dict itself, else 'ema', 'state_dict', 'model', …)" },
      ...verifyFlags,
    }) as unknown as Argv<ConvertArgs>;
}

export async function runConvert(a: ConvertArgs, out: Output): Promise<number> {
  const api = require('../../api/convert') as typeof import('../../api/convert');
  const { checkpointInputShape } = require('../../api/model-info') as typeof import('../../api/model-info');
  const { renderConvert } = require('../render') as typeof import('../render');
  const verifyOptions = verifyOptionsFrom(a);
  const progress = progressPrinter(out);
  try {
    const res = await api.convert(a.input, a.output, {
      to: a.to as OutputFormat | undefined,
      verify: a.verify,
      verifyOptions,
      bnEps: a['bn-eps'],
      keepFailed: a['keep-failed'],
      dtype: a.dtype,
      keepIoTypes: a['keep-io-types'],
      scheme: a.scheme,
      arch: a.arch,
      opset: a.opset,
      entry: a.entry,
      externalData: a['external-data'],
      dynamicBatch: a['dynamic-batch'],
      maxBatch: a['max-batch'],
      timingCache: a['timing-cache'],
      trtexec: a.trtexec,
      inputShape: checkpointInputShape(verifyOptions.inputShapes),
      onEvent: progress,
    });
    progress.stop();
    if (out.json) out.report(convertJson(res, true));
    out.say(renderConvert(res, out.verbose));
    return 0;
  } catch (e) {
    progress.stop();
    if (e instanceof api.ConversionCheckFailed) {
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
    merged: res.reparam?.merged,
    opsBefore: res.reparam?.opsBefore,
    opsAfter: res.reparam?.opsAfter,
    refusals: res.reparam?.refusals,
    warnings: res.reparam?.warnings,
    checkpoint: res.checkpoint,
    architecture: res.architecture?.name,
    fp16: res.fp16,
    trt: res.trt ?? null,
    verify: res.verify ?? null,
    verifySkipped: res.verifySkipped,
    bytesWritten: res.bytesWritten,
    timings: res.timings,
  };
}
