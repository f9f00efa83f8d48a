// What each option of the library's commands may hold (see options.ts). Light: the command line reads
// these for --help and for its flags before any conversion code loads.
import type { OptionTableOf } from '../options';
import { SCHEME_NAMES } from '../checkpoint/schemes';
import type { BenchPairOptions } from './bench';
import type { InspectFileOptions } from './inspect';
import { EP_CHOICES } from '../verify/ep-choices';
import { PRECISIONS, VERIFY_OPTION_KINDS } from '../verify/option-kinds';
import type { ConvertOptions } from './convert';
import type { VerifyPairOptions } from './verify';

/** Output formats `to` names ('plan' and 'engine' are also accepted, as 'trt'). */
export const OUTPUT_FORMATS = ['onnx', 'safetensors', 'pth', 'wts', 'trt'] as const;

const nonNegative = { type: 'number', min: 0 } as const;

/** The check's options as the library's commands take them (progress comes as events instead). */
const { onProgress: _progress, ...CHECK_KINDS } = VERIFY_OPTION_KINDS;

export const CONVERT_OPTION_KINDS = {
  to: { type: 'choice', choices: [...OUTPUT_FORMATS, 'plan', 'engine'] },
  verify: { type: 'boolean' },
  verifyOptions: { type: 'options', table: CHECK_KINDS },
  bnEps: nonNegative,
  dtype: { type: 'choice', choices: PRECISIONS },
  keepIoTypes: { type: 'boolean' },
  scheme: { type: 'choice', choices: SCHEME_NAMES },
  arch: { type: 'string' },
  inputShape: { type: 'shape' },
  opset: { type: 'number', integer: true, min: 7 },
  entry: { type: 'string' },
  externalData: { type: 'boolean' },
  dynamicBatch: { type: 'boolean' },
  maxBatch: { type: 'number', integer: true, min: 1 },
  timingCache: { type: 'string' },
  trtexec: { type: 'string' },
  keepFailed: { type: 'boolean' },
  expectMerged: { type: 'number', integer: true, min: 0 },
  failIfUnmerged: { type: 'boolean' },
  onEvent: { type: 'function' },
} as const satisfies OptionTableOf<ConvertOptions>;

export const VERIFY_PAIR_OPTION_KINDS = {
  ...CHECK_KINDS,
  compareEps: { type: 'boolean' },
  scheme: { type: 'choice', choices: SCHEME_NAMES },
  arch: { type: 'string' },
  entry: { type: 'string' },
  bnEps: nonNegative,
  opset: { type: 'number', integer: true, min: 7 },
  onEvent: { type: 'function' },
} as const satisfies OptionTableOf<VerifyPairOptions>;

export const INSPECT_OPTION_KINDS = {
  inputShapes: VERIFY_OPTION_KINDS.inputShapes,
  bnEps: nonNegative,
  scheme: CONVERT_OPTION_KINDS.scheme,
  arch: CONVERT_OPTION_KINDS.arch,
  entry: CONVERT_OPTION_KINDS.entry,
  onEvent: { type: 'function' },
} as const satisfies OptionTableOf<InspectFileOptions>;

export const BENCH_OPTION_KINDS = {
  ep: { type: 'choice', choices: EP_CHOICES },
  inputShapes: VERIFY_OPTION_KINDS.inputShapes,
  runs: { type: 'number', integer: true, min: 1 },
  warmup: { type: 'number', integer: true, min: 0 },
  seed: VERIFY_OPTION_KINDS.seed,
  memoryLimit: VERIFY_OPTION_KINDS.memoryLimit,
  timeLimit: VERIFY_OPTION_KINDS.timeLimit,
  onEvent: { type: 'function' },
} as const satisfies OptionTableOf<BenchPairOptions>;
