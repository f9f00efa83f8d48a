// The command line's commands and flags, as data: the parser (parse.ts), --help (help.ts) and each
// command's typed arguments all come from here. A flag's type and choices are those of the library
// option it sets (api/option-kinds.ts); its help text is written here, once.
import { BENCH_OPTION_KINDS, CONVERT_OPTION_KINDS, OUTPUT_FORMATS } from '../api/option-kinds';
import { DEFAULT_BENCH_SEED, DEFAULT_RUNS, DEFAULT_WARMUP } from '../bench/defaults';
import type { OptionKind } from '../options';
import { DEFAULT_ATOL, DEFAULT_ATOL_FP16, DEFAULT_RTOL, DEFAULT_RTOL_FP16, DEFAULT_SAMPLES, DEFAULT_SEED } from '../verify/defaults';
import { DEFAULT_TIME_LIMIT_S, MEMORY_FLOOR_MIB } from '../verify/budget';
import { VERIFY_OPTION_KINDS } from '../verify/option-kinds';

/** A flag's value kind: a library option kind ('strings' is a repeatable flag). */
export type FlagKind = Exclude<OptionKind, { type: 'function' | 'options' | 'shape' | 'shapes' }>;

export interface Flag {
  readonly kind: FlagKind;
  readonly describe: string;
  /** The default as --help states it; the library applies it, so an absent flag stays absent. */
  readonly default?: string;
  /** One letter: -q for --quiet. */
  readonly alias?: string;
  /** What the value is called in --help: --samples N. */
  readonly placeholder?: string;
  /** A boolean that is on by default: --help lists --no-NAME. */
  readonly negated?: boolean;
  /** Help section. */
  readonly group: string;
}

export interface Positional {
  readonly name: string;
  readonly describe: string;
}

export interface Command {
  readonly name: CommandName;
  readonly positionals: readonly Positional[];
  readonly summary: string;
  readonly flags: Readonly<Record<string, Flag>>;
  readonly examples: readonly (readonly [string, string])[];
}

export type CommandName = 'convert' | 'verify' | 'inspect' | 'bench';

const bool = { type: 'boolean' } as const;
const text = { type: 'string' } as const;
const shapes = { type: 'strings' } as const;

export const GLOBAL_FLAGS = {
  json: { kind: bool, describe: 'print one JSON report on stdout instead of the text report', group: 'Output' },
  quiet: { kind: bool, alias: 'q', describe: 'no progress or notes on stderr; the report and warnings still print', group: 'Output' },
  verbose: { kind: bool, alias: 'v', describe: 'more detail: every block, why a site was left unmerged, phase timings', group: 'Output' },
  debug: { kind: bool, describe: 'print stack traces with errors', group: 'Output' },
  help: { kind: bool, alias: 'h', describe: 'show this help', group: 'Output' },
  version: { kind: bool, alias: 'V', describe: 'print the version (so does -v on its own)', group: 'Output' },
} as const satisfies Record<string, Flag>;

const V = VERIFY_OPTION_KINDS;
const C = CONVERT_OPTION_KINDS;
const CHECK = 'Check (onnxruntime)';

/** onnxruntime runs under a watchdog (verify/ort-host.ts): these are its limits. */
const LIMIT_FLAGS = (group: string) =>
  ({
    'memory-limit': { kind: V.memoryLimit, placeholder: 'MIB', default: `${MEMORY_FLOOR_MIB} + 3 per MiB of the larger model`, describe: "memory onnxruntime may take; a model declaring more (a tensor past a quarter of it) is refused before it runs", group },
    'time-limit': { kind: V.timeLimit, placeholder: 'SECONDS', default: String(DEFAULT_TIME_LIMIT_S), describe: 'time onnxruntime may run; a constant Loop needing more is refused before it runs', group },
  }) as const satisfies Record<string, Flag>;

const CHECK_FLAGS = {
  ep: { kind: V.ep, placeholder: 'EP', default: 'auto', describe: 'execution provider for the deploy model (the reference runs on cpu); auto = a real GPU when there is one (CUDA, else WebGPU on a hardware adapter), else cpu', group: CHECK },
  seed: { kind: V.seed, placeholder: 'N', default: String(DEFAULT_SEED), describe: 'seed of the random inputs', group: CHECK },
  samples: { kind: V.samples, placeholder: 'N', default: String(DEFAULT_SAMPLES), describe: 'number of random inputs', group: CHECK },
  atol: { kind: V.atol, placeholder: 'X', default: `${DEFAULT_ATOL}; FP16 ${DEFAULT_ATOL_FP16}`, describe: 'absolute tolerance: an element fails only if it exceeds both atol and rtol × |reference|', group: CHECK },
  rtol: { kind: V.rtol, placeholder: 'X', default: `${DEFAULT_RTOL}; FP16 ${DEFAULT_RTOL_FP16}`, describe: 'relative tolerance', group: CHECK },
  'input-shape': { kind: shapes, placeholder: 'SHAPE', default: "the model's, batch 1", describe: 'shape of an input: 1x3x224x224, or NAME:1x3x224x224; repeat for several inputs', group: CHECK },
  'per-block': { kind: bool, describe: 'also compare every block end the two models share and name the first that differs (a failed check does this by itself)', group: CHECK },
  inputs: { kind: V.inputs, placeholder: 'FILE', default: 'seeded random', describe: 'inputs from a file, one sample each: x.npy, x.npz (arrays named after the inputs; sample0/NAME, … for several), raw x.bin:1x3x224x224; NAME=FILE names the input; repeat for more samples', group: CHECK },
  'save-inputs': { kind: V.saveInputs, placeholder: 'FILE.npz', describe: 'save the inputs the check fed (every sample) for numpy.load or --inputs', group: CHECK },
  'save-results': { kind: V.saveResults, placeholder: 'FILE.npz', describe: "save both models' outputs of every sample (reference/NAME, candidate/NAME)", group: CHECK },
  ...LIMIT_FLAGS(CHECK),
} as const satisfies Record<string, Flag>;

const CKPT = 'Checkpoints (.safetensors, .pth)';
const TRT = 'TensorRT output (.plan, .engine, --to trt)';

export const CONVERT_FLAGS = {
  to: { kind: { type: 'choice', choices: OUTPUT_FORMATS }, placeholder: 'FORMAT', default: "the output's extension", describe: 'output format', group: 'Conversion' },
  verify: { kind: bool, negated: true, describe: 'skip the onnxruntime check before the output is written', group: 'Conversion' },
  'keep-failed': { kind: bool, describe: 'write the output even when the check fails', group: 'Conversion' },
  'expect-merged': { kind: C.expectMerged, placeholder: 'N', describe: 'CI gate: exit 1 and write nothing unless exactly N blocks merge', group: 'Conversion' },
  'fail-if-unmerged': { kind: bool, describe: 'CI gate: exit 1 and write nothing when nothing merges, or a block or BatchNormalization is left (a deploy model, a training-mode export)', group: 'Conversion' },
  dtype: { kind: C.dtype, placeholder: 'TYPE', default: 'fp32', describe: 'precision of the deploy ONNX (fp16: float16 weights and I/O)', group: 'Conversion' },
  'keep-io-types': { kind: bool, describe: 'with --dtype fp16: keep float32 inputs and outputs, with Casts at the boundary', group: 'Conversion' },
  'external-data': { kind: bool, describe: 'ONNX output: weights in one data file beside the model (always past 2 GiB)', group: 'Conversion' },
  'bn-eps': { kind: C.bnEps, placeholder: 'X', default: "the model's; 1e-5 (YOLOv6/v7 1e-3)", describe: 'BatchNorm epsilon where the model carries none', group: CKPT },
  scheme: { kind: C.scheme, placeholder: 'NAME', default: 'detected from the keys', describe: 'key naming scheme', group: CKPT },
  arch: { kind: C.arch, placeholder: 'NAME', default: 'inferred', describe: 'published architecture the weights must match, e.g. RepVGG-A0', group: CKPT },
  entry: { kind: C.entry, placeholder: 'KEY', default: "the state dict, else 'ema', 'state_dict', 'model', …", describe: '.pth: top-level entry holding the weights', group: CKPT },
  opset: { kind: C.opset, placeholder: 'N', default: '13', describe: 'checkpoint → ONNX: opset of the graph built from the weights', group: CKPT },
  'dynamic-batch': { kind: bool, describe: 'keep the batch dim dynamic (prints the --minShapes/--optShapes/--maxShapes)', group: TRT },
  'max-batch': { kind: C.maxBatch, placeholder: 'N', default: '32', describe: 'with --dynamic-batch: largest batch of the profile', group: TRT },
  'timing-cache': { kind: text, placeholder: 'FILE', describe: "trtexec's --timingCacheFile", group: TRT },
  trtexec: { kind: text, placeholder: 'PATH', default: 'looked up on PATH', describe: 'the trtexec to build the plan with', group: TRT },
  ...CHECK_FLAGS,
} as const satisfies Record<string, Flag>;

export const VERIFY_FLAGS = {
  ...CHECK_FLAGS,
  'compare-eps': { kind: bool, describe: 'with a GPU --ep: also run deploy on cpu and train on the GPU, to tell a conversion error from a provider difference', group: CHECK },
  scheme: CONVERT_FLAGS.scheme,
  arch: CONVERT_FLAGS.arch,
  entry: CONVERT_FLAGS.entry,
  'bn-eps': CONVERT_FLAGS['bn-eps'],
  opset: CONVERT_FLAGS.opset,
} as const satisfies Record<string, Flag>;

export const INSPECT_FLAGS = {
  'input-shape': { ...CHECK_FLAGS['input-shape'], default: "the model's, batch 1; checkpoints 1x3x224x224", describe: 'input shape for counting MACs: 1x3x224x224 or NAME:1x3x224x224', group: 'Inspect' },
  scheme: CONVERT_FLAGS.scheme,
  arch: CONVERT_FLAGS.arch,
  entry: CONVERT_FLAGS.entry,
  'bn-eps': CONVERT_FLAGS['bn-eps'],
} as const satisfies Record<string, Flag>;

const B = BENCH_OPTION_KINDS;
export const BENCH_FLAGS = {
  ep: { ...CHECK_FLAGS.ep, default: 'cpu', describe: 'execution provider for both models; auto = a real GPU when there is one, else cpu', group: 'Bench' },
  runs: { kind: B.runs, placeholder: 'N', default: String(DEFAULT_RUNS), describe: 'timed runs per model', group: 'Bench' },
  warmup: { kind: B.warmup, placeholder: 'N', default: String(DEFAULT_WARMUP), describe: 'untimed runs per model first', group: 'Bench' },
  seed: { kind: B.seed, placeholder: 'N', default: String(DEFAULT_BENCH_SEED), describe: 'seed of the input', group: 'Bench' },
  'input-shape': { ...CHECK_FLAGS['input-shape'], group: 'Bench' },
  ...LIMIT_FLAGS('Bench'),
} as const satisfies Record<string, Flag>;

export const COMMANDS: Readonly<Record<CommandName, Command>> = {
  convert: {
    name: 'convert',
    positionals: [
      { name: 'input', describe: 'training-time model: .onnx, .safetensors or .pth' },
      { name: 'output', describe: 'deploy model; its extension picks the format: .onnx, .safetensors, .pth, .wts, .plan' },
    ],
    summary: 'convert a training-time model to its deploy form, checked with onnxruntime before it is written (the default command)',
    flags: CONVERT_FLAGS,
    examples: [
      ['train.onnx deploy.onnx', 'merge the branches, check on the CPU, then write deploy.onnx'],
      ['RepVGG-A0-train.pth RepVGG-A0-deploy.safetensors', 'a checkpoint, no Python needed (.pth and .wts outputs too)'],
      ['train.pth deploy.onnx --input-shape 1x3x224x224', 'a deploy ONNX built from the weights'],
      ['train.onnx deploy.onnx --ep webgpu', 'check on the GPU'],
      ['train.onnx deploy-fp16.onnx --dtype fp16 --keep-io-types', 'float16 weights, float32 inputs and outputs'],
      ['train.onnx deploy.onnx --verbose', 'also list every block, and why any was left alone'],
    ],
  },
  verify: {
    name: 'verify',
    positionals: [
      { name: 'reference', describe: 'the training-time model: .onnx, or a .safetensors / .pth checkpoint (its graph is built from the weights); runs on cpu' },
      { name: 'candidate', describe: 'the deploy model: .onnx, or for a checkpoint reference also deploy weights (.safetensors, .pth, .wts); runs on --ep' },
    ],
    summary: 'check that two models compute the same outputs (exit 1 if they differ): an ONNX pair, or a training checkpoint and its deploy weights',
    flags: VERIFY_FLAGS,
    examples: [
      ['verify train.onnx deploy.onnx --json', 'as a CI step: a JSON report on stdout, exit 1 if the outputs differ'],
      ['verify train.onnx deploy.onnx --ep webgpu --input-shape 1x3x224x224', 'check the deploy model on the GPU'],
      ['verify train.onnx deploy.onnx --samples 8 --seed 3', 'more random inputs'],
      ['verify RepVGG-A0-train.pth RepVGG-A0-deploy.safetensors', 'deploy weights against the checkpoint they came from'],
      ['verify train.onnx deploy.onnx --inputs batch.npy --save-results out.npz', 'your own inputs; both outputs saved for numpy/PyTorch'],
    ],
  },
  inspect: {
    name: 'inspect',
    positionals: [{ name: 'model', describe: 'model to inspect: .onnx, .safetensors or .pth' }],
    summary: "report a model's format, form, blocks, parameters and MACs, and what a conversion would do; writes nothing",
    flags: INSPECT_FLAGS,
    examples: [
      ['inspect train.onnx', 'every block, whether it merges (or why not), parameters and MACs before and after'],
      ['inspect RepVGG-B1.pth --json', 'the same as JSON'],
    ],
  },
  bench: {
    name: 'bench',
    positionals: [
      { name: 'train', describe: 'the training-time ONNX model' },
      { name: 'deploy', describe: 'the deploy ONNX model' },
    ],
    summary: 'time the training and deploy models, interleaved, on one provider',
    flags: BENCH_FLAGS,
    examples: [['bench train.onnx deploy.onnx --ep webgpu --runs 50', 'latency of both models and the deploy speed-up']],
  },
};

type FlagValue<F extends Flag> = F['kind'] extends { type: 'boolean' }
  ? boolean
  : F['kind'] extends { type: 'number' }
    ? number
    : F['kind'] extends { type: 'strings' }
      ? readonly string[]
      : F['kind'] extends { type: 'choice'; choices: readonly (infer C)[] }
        ? C
        : string;

/** A command's parsed flags: each is undefined unless given (the library applies the defaults). */
export type FlagValues<T extends Readonly<Record<string, Flag>>> = { readonly [K in keyof T]?: FlagValue<T[K]> };

export type GlobalArgs = FlagValues<typeof GLOBAL_FLAGS>;
export type ConvertArgs = FlagValues<typeof CONVERT_FLAGS> & GlobalArgs & { readonly input: string; readonly output: string };
export type VerifyArgs = FlagValues<typeof VERIFY_FLAGS> & GlobalArgs & { readonly reference: string; readonly candidate: string };
export type InspectArgs = FlagValues<typeof INSPECT_FLAGS> & GlobalArgs & { readonly model: string };
export type BenchArgs = FlagValues<typeof BENCH_FLAGS> & GlobalArgs & { readonly train: string; readonly deploy: string };
