// inspect: what a model is and what conversion would do to it, for any supported input; nothing is written.
import { checkpointInputShape } from '../api/model-info';
import { detectInputFormat } from '../formats/registry';
import { UserError } from '../errors';
import { SchemeName } from '../checkpoint';
import { inspectCheckpointFile } from './checkpoint';
import { inspectOnnx } from './onnx';
import { InspectReport } from './report';

export type { InspectReport, BlockInfo, BranchInfo, FoldInfo, ModelForm, OnnxFacts, CheckpointFacts } from './report';
export type { GraphCost } from './cost';
export { graphCost } from './cost';
export { propagateShapes } from '../ir/shapes';
export type { Dims } from '../ir/shapes';

export interface InspectOptions {
  /** Input shapes by input name, or under '*' for the first input; a checkpoint takes one N x C x H x W. */
  readonly inputShapes?: Readonly<Record<string, readonly number[]>>;
  /** BatchNormalization epsilon where the model does not carry it. */
  readonly bnEps?: number;
  /** Checkpoints: read the keys with this scheme instead of detecting it. */
  readonly scheme?: SchemeName;
  /** Checkpoints: the published architecture the weights must match. */
  readonly arch?: string;
  /** Checkpoints (.pth): the top-level entry holding the weights. */
  readonly entry?: string;
}

export function inspectModel(file: string, options: InspectOptions = {}): InspectReport {
  const format = detectInputFormat(file);
  if (options.bnEps !== undefined && !(options.bnEps >= 0 && Number.isFinite(options.bnEps))) {
    throw new UserError(`--bn-eps ${options.bnEps} is not a non-negative number`, { code: 'BAD_USAGE' });
  }
  if (format === 'onnx') return inspectOnnx(file, { inputShapes: options.inputShapes, bnEps: options.bnEps });
  return inspectCheckpointFile(file, format, {
    scheme: options.scheme,
    arch: options.arch,
    bnEps: options.bnEps,
    entry: options.entry,
    inputShape: checkpointInputShape(options.inputShapes),
  });
}

