// A training checkpoint checked against a deploy file: the training graph built from its weights, the
// deploy graph built from the deploy weights as our own reader reads them (a deploy ONNX is taken as it
// is), both run in onnxruntime. Serves the check of a checkpoint conversion (the candidate is the staged
// output) and `verify train.pth deploy.safetensors`. Where the checkpoint holds no whole architecture (a
// detector's backbone and neck), each block is checked on its own: its branches against its merged conv,
// as two small graphs, one block at a time, so memory stays that of the largest block.
import { Architecture, SCHEMES, SchemeName, buildBlockPair, buildDeployOnnx, buildTrainOnnx, scanBlocks } from '../checkpoint';
import { numel } from '../dtype';
import { CheckFailedError, UserError } from '../errors';
import { FormatName, readWeights } from '../formats/registry';
import { StateDict } from '../formats/state-dict';
import { Tensor } from '../tensor';
import { VerifyOptions, VerifyReport, verifyModels } from '../verify';
import { CheckFolder } from '../verify/check-folder';
import { EventSink } from './events';
import { verifyProgress } from './verify';

export interface WeightsPair {
  readonly train: StateDict;
  readonly arch: Architecture;
  readonly build: { readonly inputShape?: readonly number[]; readonly opset?: number; readonly bnEps: number };
  /** The deploy file, and the deploy tensors the training weights convert to (their keys and shapes). */
  readonly candidate: { readonly file: string; readonly format: FormatName; readonly expected: ReadonlyMap<string, Tensor> };
}

export async function checkWeightsPair(pair: WeightsPair, folder: CheckFolder, options: Omit<VerifyOptions, 'onProgress'> | undefined, emit: EventSink): Promise<VerifyReport> {
  const { train, arch, build, candidate } = pair;
  const reference = folder.put('reference', buildTrainOnnx(arch, train, build)).path;
  let deploy: string;
  if (candidate.format === 'onnx') deploy = folder.graphFor('candidate', candidate.file);
  else {
    const back = readWeights(candidate.file, candidate.format);
    try {
      deploy = folder.put('candidate', buildDeployOnnx(arch, shapedAsExpected(back.tensors, candidate.expected, candidate.file), build)).path;
    } finally {
      back.close?.();
    }
  }
  // The graph built from the training weights takes one input named 'input', at the requested shape.
  return verifyModels(reference, deploy, { ...options, inputShapes: build.inputShape ? { input: build.inputShape } : options?.inputShapes, onProgress: verifyProgress(emit) });
}

export interface BlocksPair {
  readonly train: StateDict;
  readonly scheme: SchemeName;
  readonly bnEps: number;
  readonly candidate: WeightsPair['candidate'];
}

/** Every block of the checkpoint against its merged conv in the deploy file; one report, a block an output. */
export async function checkBlocksFromWeights(pair: BlocksPair, folder: CheckFolder, options: Omit<VerifyOptions, 'onProgress'> | undefined, emit: EventSink): Promise<VerifyReport> {
  const { train, scheme, bnEps, candidate } = pair;
  if (candidate.format === 'onnx') throw new UserError('a checkpoint without a whole architecture is checked against deploy weights, not an ONNX model', { code: 'UNSUPPORTED', hint: 'check the ONNX exports instead: repvgg-convert verify train.onnx deploy.onnx' });
  const spec = SCHEMES[scheme];
  const blocks = scanBlocks(train.tensors, spec, bnEps).train;
  const back = readWeights(candidate.file, candidate.format);
  try {
    const deploy = shapedAsExpected(back.tensors, candidate.expected, candidate.file);
    const reports: { block: string; node: string; report: VerifyReport }[] = [];
    for (const [i, tb] of blocks.entries()) {
      const { train: t, deploy: d, inputShape } = buildBlockPair(tb, spec.deploy, train.tensors, deploy, bnEps);
      const report = await verifyModels(folder.put(`block${i}-train`, t).path, folder.put(`block${i}-deploy`, d).path, { ...options, inputShapes: { input: inputShape }, inputs: undefined, saveInputs: undefined, saveResults: undefined });
      reports.push({ block: tb.name, node: `/${tb.name}/${spec.deploy}/Conv`, report });
      emit({ type: 'progress', phase: 'verify', done: i + 1, total: blocks.length, unit: 'runs', what: 'blocks' });
    }
    return blockwiseReport(reports, candidate.file);
  } finally {
    back.close?.();
  }
}

/** One report of the blocks' checks: each block's output under its name; the first that fails named. */
function blockwiseReport(reports: readonly { block: string; node: string; report: VerifyReport }[], candidate: string): VerifyReport {
  if (reports.length === 0) throw new UserError(`${candidate}: no block to check`, { code: 'BAD_INPUT' });
  const first = reports[0].report;
  const outputs = Object.fromEntries(reports.map((r) => [r.block, r.report.outputs.output]));
  const blocks = reports.map((r) => ({ ...r.report.outputs.output, value: r.block, node: r.node, opType: 'Conv' }));
  const failing = blocks.find((b) => !b.ok);
  const sum = (k: keyof VerifyReport['timings']) => reports.reduce((n, r) => n + r.report.timings[k], 0);
  return {
    ...first,
    ok: reports.every((r) => r.report.ok),
    blockwise: true,
    outputs,
    blocks,
    ...(failing ? { firstDifference: failing } : {}),
    problems: reports.flatMap((r) => r.report.problems.map((p) => `${r.block}: ${p}`)),
    inputs: {},
    timings: { loadReferenceMs: sum('loadReferenceMs'), loadCandidateMs: sum('loadCandidateMs'), runReferenceMs: sum('runReferenceMs'), runCandidateMs: sum('runCandidateMs'), compareMs: sum('compareMs'), totalMs: sum('totalMs') },
  };
}

/**
 * Deploy tensors as the deploy graph wants them: a .wts file keeps values only, so each one takes the
 * expected shape where the number of values agrees. A count that differs fails the check: the deploy
 * file is not the conversion of these training weights.
 */
function shapedAsExpected(got: ReadonlyMap<string, Tensor>, expected: ReadonlyMap<string, Tensor>, file: string): ReadonlyMap<string, Tensor> {
  const out = new Map<string, Tensor>(got);
  for (const [key, want] of expected) {
    const t = got.get(key);
    if (!t) continue; // the graph builder names what it misses
    if (numel(t.shape) !== numel(want.shape)) {
      throw new CheckFailedError(`${file} holds ${numel(t.shape)} values for '${key}', where the training weights make ${numel(want.shape)} ([${want.shape.join(', ')}])`);
    }
    if (t.shape.length !== want.shape.length || t.shape.some((d, i) => d !== want.shape[i])) out.set(key, { ...t, shape: want.shape });
  }
  return out;
}
