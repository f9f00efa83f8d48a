// inspect for checkpoints: the scheme and blocks from the keys (no value is read), the architecture when
// the weights are a plain RepVGG classifier, and counts on the training and deploy ONNX graphs built in
// memory from the weights' shapes.
import { readWeights } from '../formats/registry';
import {
  ArchBlock, Architecture, CLASSIFIER_SCHEMES, CheckpointReport, DEFAULT_INPUT_SHAPE, DEFAULT_OPSET, SCHEMES, SchemeName,
  buildDeployOnnx, buildTrainOnnx, inferArchitecture, inspectCheckpoint, scanBlocks,
} from '../checkpoint';
import { UserError } from '../errors';
import { StateDict } from '../formats/state-dict';
import { OnnxModel } from '../formats/onnx/read';
import { Tensor } from '../tensor';
import { GraphCost, graphCost } from './cost';
import { BlockInfo, CheckpointFacts, InspectReport } from './report';
import { mergingReport, singleConvReport } from '../reparam/report';

export interface InspectCheckpointOptions {
  readonly scheme?: SchemeName;
  /** The published architecture the weights must match; without it, one is named when the weights match. */
  readonly arch?: string;
  readonly bnEps?: number;
  /** .pth: the top-level entry holding the weights. */
  readonly entry?: string;
  /** [N, C, H, W] the graphs are counted at. Default 1x3x224x224. */
  readonly inputShape?: readonly number[];
}

export function inspectCheckpointFile(file: string, format: 'safetensors' | 'pth', options: InspectCheckpointOptions = {}): InspectReport {
  const sd = readWeights(file, format, { entry: options.entry });
  try {
    return inspectStateDict(file, format, sd, options);
  } finally {
    sd.close?.();
  }
}

/** The same report for a state dict already read; `file` and `format` only label it. Reads no tensor values. */
export function inspectStateDict(file: string, format: 'safetensors' | 'pth', sd: StateDict, options: InspectCheckpointOptions = {}): InspectReport {
  const report = inspectCheckpoint(sd, { scheme: options.scheme, bnEps: options.bnEps });
  const notes: string[] = [...report.notes];
  const found = architectureOf(sd, report.scheme, options.arch);
  const arch = found.arch;
  if (arch) notes.push(...arch.notes);

  const blocks = arch ? arch.blocks.map(archBlockInfo) : keyBlockInfo(sd, report);
  const merged: Record<string, number> = {};
  for (const b of blocks) if (b.merges && b.kind) merged[b.kind] = (merged[b.kind] ?? 0) + 1;

  let before: GraphCost | null = null;
  let after: GraphCost | null = null;
  const inputShape = options.inputShape ?? DEFAULT_INPUT_SHAPE;
  if (arch) {
    const count = (m: OnnxModel) => {
      try {
        return graphCost(m.graph, new Map([['input', inputShape]]), DEFAULT_OPSET);
      } finally {
        m.close();
      }
    };
    after = count(buildDeployOnnx(arch, arch.form === 'deploy' ? sd.tensors : deployShapes(sd, arch), { inputShape }));
    if (arch.form === 'train') before = count(buildTrainOnnx(arch, sd, { inputShape, bnEps: report.bnEps }));
    else if (arch.form === 'deploy') before = after;
    else notes.push('counts before conversion are not given: some blocks are already single convs, so no training graph can be built');
  } else {
    notes.push(`parameters and MACs are not counted: ${found.missing}`);
  }

  const checkpoint: CheckpointFacts = {
    scheme: report.scheme,
    schemeFrom: report.schemeFrom,
    bnEps: report.bnEps,
    architecture: arch ? arch.name ?? 'custom' : null,
    ...(arch?.nameFrom ? { architectureFrom: arch.nameFrom } : {}),
    ...(found.missing ? { architectureMissing: found.missing } : {}),
    ...(arch ? { stages: arch.stages.map((s) => ({ name: s.name, blocks: s.blocks, width: s.width })) } : {}),
    ...(arch?.head ? { classes: arch.head.classes } : {}),
    tensors: report.tensorsIn,
    tensorsAfter: report.form === 'deploy' ? report.tensorsIn : report.tensorsOut,
    dropped: report.dropped,
    passedThrough: report.passedThrough,
  };
  return {
    file,
    format,
    form: report.form,
    checkpoint,
    inputShapes: arch ? { input: inputShape } : null,
    blocks,
    folds: [],
    merged,
    before,
    after,
    warnings: [],
    notes,
  };
}

/** The architecture, or why there is none. A name asked for must fit; otherwise a layout that does not read as a RepVGG classifier is reported, not fatal. */
function architectureOf(sd: StateDict, scheme: SchemeName, arch: string | undefined): { arch?: Architecture; missing?: string } {
  if (!CLASSIFIER_SCHEMES.includes(scheme)) {
    return { missing: `${scheme} blocks sit in detectors and backbones whose wiring is not in the checkpoint` };
  }
  try {
    return { arch: inferArchitecture(sd, { arch, scheme }) };
  } catch (e) {
    if (e instanceof UserError && arch === undefined) return { missing: e.message };
    throw e;
  }
}

function archBlockInfo(b: ArchBlock): BlockInfo {
  const stride = [b.stride, b.stride];
  if (!b.train) return singleConvReport(b.name, b.kernel, { stride, groups: b.groups, se: !!b.se });
  return mergingReport(b.train.block, b.train.geometry, { name: b.name, stride, groups: b.groups, se: !!b.se, deploy: b.deploy.bias ? { weight: b.deploy.weight, bias: b.deploy.bias } : undefined });
}

/** Without an architecture: the blocks as the keys show them; strides are not in the weights. */
function keyBlockInfo(sd: StateDict, report: CheckpointReport): BlockInfo[] {
  const deploy = scanBlocks(sd.tensors, SCHEMES[report.scheme], report.bnEps).deploy.map((d) => singleConvReport(d.name, d.kernel));
  return [...report.blocks, ...deploy];
}

/**
 * The deploy state dict's shapes: every key as it is, plus each merged conv as a placeholder of the right
 * shape. Counting reads shapes only, so the merge itself is not computed.
 */
function deployShapes(sd: StateDict, arch: Architecture): ReadonlyMap<string, Tensor> {
  const out = new Map(sd.tensors);
  const placeholder = (shape: readonly number[]): Tensor => ({
    dtype: 'float32',
    shape,
    data: { kind: 'lazy', compute: () => new Uint8Array(4 * shape.reduce((a, b) => a * b, 1)) },
  });
  for (const b of arch.blocks) {
    if (!b.train) continue;
    out.set(b.deploy.weight, placeholder([b.outChannels, b.inChannels / b.groups, b.kernel[0], b.kernel[1]]));
    if (b.deploy.bias) out.set(b.deploy.bias, placeholder([b.outChannels]));
  }
  return out;
}
