// A training checkpoint checked against a deploy file: the training graph built from its weights, the
// deploy graph built from the deploy weights as our own reader reads them (a deploy ONNX is taken as it
// is), both run in onnxruntime. Serves the check of a checkpoint conversion (the candidate is the staged
// output) and `verify train.pth deploy.safetensors`.
import { Architecture, buildDeployOnnx, buildTrainOnnx } from '../checkpoint';
import { numel } from '../dtype';
import { CheckFailedError } from '../errors';
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
