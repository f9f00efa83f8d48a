// Options that do nothing for a given input and output: said as a warning, never silently ignored.
// (An option that makes no sense at all, such as --dtype fp16 for a checkpoint, is an error instead.)
import type { InputFormat, OutputFormat } from '../formats/registry';
import type { ConvertOptions } from './convert';
import { ignoredWithInputs } from '../verify/option-kinds';

interface Context {
  readonly input: InputFormat;
  readonly output: OutputFormat;
  readonly file: string;
  readonly options: ConvertOptions;
}

interface Rule {
  readonly applies: (c: Context) => boolean;
  /** "applies only to …", completing the warning. */
  readonly only: string;
}

const checkpoint = (c: Context) => c.input !== 'onnx';
const onnxOut = (c: Context) => c.output === 'onnx' || c.output === 'trt';
const checked = (c: Context) => c.options.verify !== false;

const RULES: { readonly [K in keyof ConvertOptions]?: Rule } = {
  scheme: { applies: checkpoint, only: 'to checkpoint inputs (.safetensors, .pth)' },
  arch: { applies: checkpoint, only: 'to checkpoint inputs (.safetensors, .pth)' },
  entry: { applies: (c) => c.input === 'pth', only: 'to .pth inputs' },
  opset: { applies: (c) => checkpoint(c) && (onnxOut(c) || checked(c)), only: 'to ONNX graphs built from a checkpoint' },
  inputShape: { applies: (c) => checkpoint(c) && (onnxOut(c) || checked(c)), only: 'to ONNX graphs built from a checkpoint' },
  keepIoTypes: { applies: (c) => c.options.dtype === 'fp16', only: 'with --dtype fp16' },
  externalData: { applies: onnxOut, only: 'to ONNX outputs' },
  dynamicBatch: { applies: (c) => c.output === 'trt', only: 'to TensorRT outputs (.plan, .engine, --to trt)' },
  maxBatch: { applies: (c) => c.output === 'trt' && c.options.dynamicBatch === true, only: 'to TensorRT outputs with --dynamic-batch' },
  timingCache: { applies: (c) => c.output === 'trt', only: 'to TensorRT outputs (.plan, .engine, --to trt)' },
  trtexec: { applies: (c) => c.output === 'trt', only: 'to TensorRT outputs (.plan, .engine, --to trt)' },
  keepFailed: { applies: checked, only: 'when the output is checked (not with --no-verify)' },
};

/** Check options other than the input shapes, which also shape a graph built from a checkpoint. */
const CHECK_FLAGS: Readonly<Record<string, string>> = {
  ep: '--ep', seed: '--seed', samples: '--samples', atol: '--atol', rtol: '--rtol', precision: 'precision', inputDistribution: 'inputDistribution',
  inputs: '--inputs', saveInputs: '--save-inputs', saveResults: '--save-results',
};

const flag = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

const describeInput = (c: Context) => (c.input === 'onnx' ? `${c.file} is an ONNX model` : `${c.file} is a ${c.input === 'pth' ? '.pth' : 'safetensors'} checkpoint`);

/** A warning for each option given that this conversion does not use. */
export function inapplicableOptions(c: Context): string[] {
  const warnings: string[] = [];
  for (const [key, rule] of Object.entries(RULES) as [keyof ConvertOptions, Rule][]) {
    const value = c.options[key];
    if (value === undefined || value === false || rule.applies(c)) continue;
    warnings.push(`${flag(key)} (${key}) applies only ${rule.only}; ${describeInput(c)} and the output is ${c.output}, so it is ignored`);
  }
  const ignored = checked(c) && c.options.verifyOptions ? ignoredWithInputs(c.options.verifyOptions) : undefined;
  if (ignored) warnings.push(ignored);
  if (!checked(c) && c.options.verifyOptions) {
    const v = c.options.verifyOptions;
    const unused = Object.keys(CHECK_FLAGS).filter((k) => v[k as keyof typeof v] !== undefined).map((k) => CHECK_FLAGS[k]);
    if (v.inputShapes && !(checkpoint(c) && onnxOut(c))) unused.push('--input-shape');
    if (unused.length) warnings.push(`${unused.join(', ')} ${unused.length > 1 ? 'set' : 'sets'} the check, which --no-verify (verify: false) skips, so ${unused.length > 1 ? 'they are' : 'it is'} ignored`);
  }
  return warnings;
}
