// Training checkpoint → deploy checkpoint: every block's branches become one conv with bias under the
// scheme's deploy name, placed where the block's first branch key was; every other key passes through
// as the same tensor (still a file range). Merged tensors are computed when a writer reads them, so a
// large checkpoint converts block by block.
import { UserError } from '../errors';
import { StateDict } from '../formats/state-dict';
import { biasBeforePads, checkSmallValues, mergedTensors } from '../reparam/merge';
import { BlockReport, mergingReport } from '../reparam/report';
import { assertFiniteTensor } from '../reparam/values';
import { Tensor } from '../tensor';
import { BlockScan, TrainBlock, scanBlocks } from './blocks';
import { describeKeys, join } from './keys';
import { CheckpointReport, DroppedKey } from './report';
import { CLASSIFIER_SCHEMES, SchemeName, SchemeSpec, SCHEMES, deployWeightSuffix, detectScheme } from './schemes';

export interface ConvertOptions {
  /** Skip detection and read the keys with this scheme. */
  readonly scheme?: SchemeName;
  /** BN epsilon; defaults to the scheme's (1e-5, or 1e-3 for YOLOv6/YOLOv7). */
  readonly bnEps?: number;
}

export interface Conversion {
  /** Deploy state dict in source order. */
  readonly tensors: Map<string, Tensor>;
  readonly report: CheckpointReport;
}

const AUX_HEAD = /(^|\.)stage\w*_aux\./;

interface Plan {
  readonly spec: SchemeSpec;
  readonly scan: BlockScan;
  readonly report: CheckpointReport;
  readonly dropped: ReadonlySet<string>;
}

/** What conversion would do, without reading any values. An already-converted checkpoint is reported, not refused. */
export function inspectCheckpoint(sd: StateDict, options: ConvertOptions = {}): CheckpointReport {
  return plan(sd, options).report;
}

/**
 * The deploy state dict. Biases and BN parameters are checked here; merged kernels are computed (and
 * checked) when their bytes are read, so a NaN or Inf in a kernel throws a UserError at that read —
 * writers stage their output, so nothing is left behind.
 */
export function convertStateDict(sd: StateDict, options: ConvertOptions = {}): Conversion {
  const { spec, scan, report, dropped } = plan(sd, options);
  if (scan.train.length === 0) {
    throw new UserError(`the checkpoint is already in deploy form: its ${scan.deploy.length} blocks are single '${spec.deploy}' convs and none has training branches`, {
      code: 'BAD_USAGE',
      hint: 'it can be used as it is; convert the training checkpoint to get a fresh deploy file',
    });
  }
  // Check every block's small tensors up front; kernels are checked as they merge (the output is staged, so a failure leaves nothing).
  for (const b of scan.train) {
    checkSmallValues(b.block, b.geometry);
    const biased = biasBeforePads(b.block, b.geometry).find((z) => z.bias.some((v) => Math.abs(v) > 1e-5));
    if (biased) throw new UserError(`block '${b.name}': ${b.block.branches[biased.branch].label} zero-pads after steps that add a bias`, { code: 'UNSUPPORTED' });
  }

  const firstKey = new Map<string, TrainBlock>();
  const owned = new Set<string>();
  for (const b of scan.train) {
    firstKey.set(b.keys[0], b);
    b.keys.forEach((k) => owned.add(k));
  }
  const out = new Map<string, Tensor>();
  const put = (key: string, t: Tensor) => {
    if (out.has(key)) throw new UserError(`two tensors would be written as '${key}'`, { code: 'BAD_INPUT' });
    out.set(key, t);
  };
  for (const [key, t] of sd.tensors) {
    const block = firstKey.get(key);
    if (block) {
      const merged = mergedTensors(block.block, block.geometry);
      put(block.deploy.weight, merged.weight);
      put(block.deploy.bias, merged.bias);
    } else if (!owned.has(key) && !dropped.has(key)) {
      assertFiniteTensor(key, t);
      put(key, t);
    }
  }
  return { tensors: out, report };
}

function plan(sd: StateDict, options: ConvertOptions): Plan {
  const scheme = options.scheme ?? detectScheme(sd);
  const spec = SCHEMES[scheme];
  const bnEps = options.bnEps ?? spec.bnEps;
  if (!(Number.isFinite(bnEps) && bnEps >= 0)) throw new UserError(`BN eps must be a non-negative number, not ${bnEps}`, { code: 'BAD_USAGE' });
  const scan = scanBlocks(sd.tensors, spec, bnEps);
  if (scan.train.length === 0 && scan.deploy.length === 0) {
    throw new UserError(`no ${scheme} blocks: no key ends in '${spec.anchor}' or '${deployWeightSuffix(spec)}' (keys: ${describeKeys([...sd.tensors.keys()])})`, {
      code: 'UNSUPPORTED',
      hint: options.scheme ? 'leave the scheme out to detect it from the keys' : undefined,
    });
  }

  const droppedList: DroppedKey[] = [];
  for (const b of scan.train) for (const key of b.counters) droppedList.push({ key, reason: 'num_batches_tracked of a merged BatchNorm (a training counter)' });
  const notes: string[] = [...sd.notes];
  if (scheme === 'repvggplus') {
    const aux = [...sd.tensors.keys()].filter((k) => AUX_HEAD.test(k));
    aux.forEach((key) => droppedList.push({ key, reason: 'RepVGGplus auxiliary classifier (training only; the deploy model has none)' }));
    if (aux.length) notes.push(`dropped the RepVGGplus auxiliary heads (${[...new Set(aux.map((k) => k.split('.')[0]))].join(', ')}): they only serve training`);
  }
  const blocks = blockReports(scan.train, sd.tensors, spec);
  if (options.bnEps === undefined && spec.bnEps !== 1e-5) notes.push(`BN eps ${spec.bnEps}: ${spec.name} training code sets it on every BatchNorm (the weights do not record it)`);
  const dtypes = new Set(scan.train.flatMap((b) => b.block.branches.flatMap((x) => x.steps.flatMap((s) => (s.op === 'conv' ? [s.weight.tensor.dtype] : [])))));
  const narrow = [...dtypes].filter((d) => d !== 'float32');
  if (narrow.length) notes.push(`merged weights are written as float32 (the branches are ${narrow.join('/')}); other tensors keep their dtype`);
  if (scan.train.length && scan.deploy.length) notes.push(`${scan.deploy.length} blocks were already single convs and pass through unchanged`);

  const dropped = new Set(droppedList.map((d) => d.key));
  const owned = new Set(scan.train.flatMap((b) => b.keys));
  const passedThrough = [...sd.tensors.keys()].filter((k) => !owned.has(k) && !dropped.has(k)).length;
  const report: CheckpointReport = {
    scheme,
    schemeFrom: options.scheme ? 'forced' : 'detected',
    form: scan.train.length === 0 ? 'deploy' : scan.deploy.length ? 'mixed' : 'train',
    bnEps,
    blocks,
    deployBlocks: scan.deploy.map((b) => b.name),
    dropped: droppedList,
    passedThrough,
    tensorsIn: sd.tensors.size,
    tensorsOut: passedThrough + 2 * scan.train.length,
    notes,
  };
  return { spec, scan, report, dropped };
}

function blockReports(blocks: readonly TrainBlock[], tensors: ReadonlyMap<string, Tensor>, spec: SchemeSpec): BlockReport[] {
  const keys = [...tensors.keys()];
  const chain = CLASSIFIER_SCHEMES.includes(spec.name);
  return blocks.map((b, i) => {
    let groups = b.groups;
    // In a plain chain the block reads the previous block's output.
    const prev = blocks[i - 1];
    if (groups === undefined && chain && prev && prev.outChannels % b.inPerGroup === 0) groups = prev.outChannels / b.inPerGroup;
    const se = spec.se ? keys.some((k) => k.startsWith(`${join(b.name, spec.se!.module)}.`)) : false;
    return mergingReport(b.block, b.geometry, { stride: null, groups: groups ?? null, se, deploy: b.deploy, ...(groups === undefined ? { inPerGroup: b.inPerGroup } : {}) });
  });
}
