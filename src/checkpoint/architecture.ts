// Recovers a RepVGG classifier's structure from its state dict: the stem and stages from the key layout,
// widths and groups from the weight shapes (each block reads the previous block's output), SE blocks and
// the linear head from their keys. Strides are not in the weights; the RepVGG convention (stem and the
// first block of each stage stride 2) fills them in, corrected to 1 where an identity branch proves it.
import { UserError } from '../errors';
import { StateDict } from '../formats/state-dict';
import { Tensor } from '../tensor';
import { DeployBlock, TrainBlock, scanBlocks } from './blocks';
import { describeKeys, join, under } from './keys';
import { ArchFamily, BlockShape, OfficialArch, archMismatch, findOfficialArch, OFFICIAL_ARCHS } from './official-archs';
import { CLASSIFIER_SCHEMES, SchemeName, SchemeSpec, SeLayout, SCHEMES, detectScheme } from './schemes';

export interface ArchSe {
  /** Key prefix of the SE module, e.g. "stage1.0.se". */
  readonly prefix: string;
  readonly down: { readonly weight: string; readonly bias?: string };
  readonly up: { readonly weight: string; readonly bias?: string };
  readonly internal: number;
  readonly layout: SeLayout;
}

export interface ArchBlock {
  readonly name: string;
  readonly stage: string;
  /** Position within its stage. */
  readonly index: number;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly groups: number;
  readonly kernel: readonly [number, number];
  readonly stride: number;
  readonly strideFrom: 'convention' | 'identity branch';
  readonly identity: boolean;
  readonly se?: ArchSe;
  /** Branch keys; absent when the block is already a single conv. */
  readonly train?: TrainBlock;
  readonly deploy: { readonly weight: string; readonly bias?: string };
}

export interface ArchStage {
  readonly name: string;
  readonly blocks: number;
  readonly width: number;
}

export interface ArchHead {
  readonly weight: string;
  readonly bias?: string;
  readonly inFeatures: number;
  readonly classes: number;
}

export interface Architecture {
  readonly scheme: SchemeName;
  /** The published architecture the structure matches (e.g. "RepVGG-A0"), when it matches one. */
  readonly name?: string;
  readonly nameFrom?: 'matched' | 'forced';
  /** train: every block has its branches; deploy: every block is one conv; mixed: some of each. */
  readonly form: 'train' | 'deploy' | 'mixed';
  readonly inputChannels: number;
  /** Common key prefix of the network, e.g. "backbone." for mmpretrain; "" at the root. */
  readonly root: string;
  readonly stages: readonly ArchStage[];
  /** In forward order, stem first. */
  readonly blocks: readonly ArchBlock[];
  /** Absent for a bare backbone: the graph then ends at the last block. */
  readonly head?: ArchHead;
  /** Keys the graph does not use (training-only heads, layers around a backbone). */
  readonly unusedKeys: readonly string[];
  readonly notes: readonly string[];
}

export interface InferOptions {
  /** Name of a published architecture the weights must match (e.g. "RepVGG-B1g2"). */
  readonly arch?: string;
  readonly scheme?: SchemeName;
}

interface Layout {
  readonly stem: string;
  readonly stage: RegExp;
  /** Stage name and its forward position from a stage match. */
  readonly stageOf: (m: RegExpMatchArray) => { name: string; order: number };
  readonly firstStride: (stage: string) => number;
  readonly head: string;
}

const PLUS_ORDER: Readonly<Record<string, number>> = { stage1: 1, stage2: 2, stage3_first: 3, stage3_second: 4, stage4: 5 };

const LAYOUTS: Readonly<Partial<Record<SchemeName, Layout>>> = {
  official: { stem: 'stage0', stage: /^stage([1-9]\d*)\.(\d+)$/, stageOf: (m) => ({ name: `stage${m[1]}`, order: +m[1] }), firstStride: () => 2, head: 'linear' },
  repvggplus: {
    stem: 'stage0',
    stage: /^(stage[124]|stage3_first|stage3_second)\.blocks\.(\d+)$/,
    stageOf: (m) => ({ name: m[1], order: PLUS_ORDER[m[1]] }),
    // stage3_second continues stage 3 at the same resolution.
    firstStride: (stage) => (stage === 'stage3_second' ? 1 : 2),
    head: 'linear',
  },
  timm: { stem: 'stem', stage: /^stages\.(\d+)\.(\d+)$/, stageOf: (m) => ({ name: `stages.${m[1]}`, order: +m[1] + 1 }), firstStride: () => 2, head: 'head.fc' },
  mmpretrain: { stem: 'stem', stage: /^stage_(\d+)\.(\d+)$/, stageOf: (m) => ({ name: `stage_${m[1]}`, order: +m[1] }), firstStride: () => 2, head: 'head.fc' },
  // MobileOne's stages hold depthwise / pointwise pairs: the first (depthwise) block of a stage has stride 2.
  'mobileone-apple': { stem: 'stage0', stage: /^stage([1-9]\d*)\.(\d+)$/, stageOf: (m) => ({ name: `stage${m[1]}`, order: +m[1] }), firstStride: () => 2, head: 'linear' },
  'mobileone-timm': { stem: 'stem', stage: /^stages\.(\d+)\.(\d+)$/, stageOf: (m) => ({ name: `stages.${m[1]}`, order: +m[1] + 1 }), firstStride: () => 2, head: 'head.fc' },
};

const AUX_HEAD = /(^|\.)stage\w*_aux\./;

interface Located {
  readonly name: string;
  readonly stage: string;
  readonly order: number;
  readonly index: number;
  readonly train?: TrainBlock;
  readonly deployForm?: DeployBlock;
}

export function inferArchitecture(sd: StateDict, options: InferOptions = {}): Architecture {
  const scheme = options.scheme ?? detectScheme(sd);
  const layout = LAYOUTS[scheme];
  if (!layout) {
    throw new UserError(`${scheme} blocks sit in detectors and backbones whose wiring is not in the weights: no architecture can be read from them`, {
      code: 'UNSUPPORTED',
      hint: `architecture inference covers ${CLASSIFIER_SCHEMES.join(', ')}; the checkpoint itself still converts`,
    });
  }
  const spec = SCHEMES[scheme];
  const tensors = sd.tensors;
  const scan = scanBlocks(tensors, spec);
  const all: { name: string; train?: TrainBlock; deployForm?: DeployBlock }[] = [
    ...scan.train.map((b) => ({ name: b.name, train: b })),
    ...scan.deploy.map((b) => ({ name: b.name, deployForm: b })),
  ];
  const stems = all.filter((b) => b.name === layout.stem || b.name.endsWith(`.${layout.stem}`));
  if (stems.length !== 1) {
    throw new UserError(stems.length ? `several stem blocks: ${stems.map((b) => b.name).join(', ')}` : `no stem block '${layout.stem}' among the ${scheme} blocks (${describeKeys(all.map((b) => b.name))})`, {
      code: 'UNSUPPORTED',
    });
  }
  const root = stems[0].name.slice(0, stems[0].name.length - layout.stem.length);
  const located: Located[] = all.map((b) => {
    if (b === stems[0]) return { ...b, stage: layout.stem, order: 0, index: 0 };
    const m = b.name.startsWith(root) ? b.name.slice(root.length).match(layout.stage) : null;
    if (!m) {
      throw new UserError(`block '${b.name}' does not fit the ${scheme} layout (${root}${layout.stem}, then stages as ${layout.stage.source})`, {
        code: 'UNSUPPORTED',
        hint: 'only plain RepVGG classifiers and backbones have a structure that can be read from the weights',
      });
    }
    const st = layout.stageOf(m);
    return { ...b, stage: st.name, order: st.order, index: +m[2] };
  });
  located.sort((a, b) => a.order - b.order || a.index - b.index);
  checkContiguous(located);

  const notes: string[] = [];
  const used = new Set<string>();
  const blocks: ArchBlock[] = [];
  let channels = 0;
  for (const b of located) {
    const shape = b.train ?? b.deployForm!;
    const isStem = blocks.length === 0;
    // The stem's groups are not in the weights; every published RepVGG stem is an ungrouped conv.
    const inChannels = isStem ? shape.inPerGroup : channels;
    if (inChannels % shape.inPerGroup !== 0) {
      throw new UserError(`block '${b.name}' takes ${shape.inPerGroup} channels per group but the block before it gives ${inChannels}: the blocks do not form a chain`, {
        code: 'UNSUPPORTED',
      });
    }
    const groups = inChannels / shape.inPerGroup;
    const identity = !!b.train?.identity;
    if (identity && inChannels !== shape.outChannels) {
      throw new UserError(`block '${b.name}' has an identity branch but reads ${inChannels} channels and writes ${shape.outChannels}`, { code: 'BAD_INPUT' });
    }
    const conventional = b.index === 0 ? (isStem ? 2 : layout.firstStride(b.stage)) : 1;
    let stride = conventional;
    let strideFrom: ArchBlock['strideFrom'] = 'convention';
    if (identity && conventional !== 1) {
      stride = 1;
      strideFrom = 'identity branch';
      notes.push(`'${b.name}' starts a stage but has an identity branch, so its stride is 1`);
    }
    const se = findSe(b.name, shape.outChannels, tensors, spec, used);
    const ownKeys = b.train ? b.train.keys : [b.deployForm!.weight, ...(b.deployForm!.bias ? [b.deployForm!.bias] : [])];
    ownKeys.forEach((k) => used.add(k));
    const stray = [...tensors.keys()].filter((k) => under(k, b.name) !== undefined && !used.has(k));
    if (stray.length) {
      throw new UserError(`block '${b.name}' has keys the graph builder does not know: ${describeKeys(stray)}`, { code: 'UNSUPPORTED' });
    }
    blocks.push({
      name: b.name,
      stage: b.stage,
      index: b.index,
      inChannels,
      outChannels: shape.outChannels,
      groups,
      kernel: shape.kernel,
      stride,
      strideFrom,
      identity,
      se,
      train: b.train,
      deploy: b.train ? b.train.deploy : { weight: b.deployForm!.weight, bias: b.deployForm!.bias },
    });
    channels = shape.outChannels;
  }

  const head = findHead(layout.head, root, channels, tensors);
  if (head) [head.weight, head.bias].forEach((k) => k && used.add(k));
  else notes.push(`no classifier head ('${layout.head}.weight'): the graph ends at the last block's output`);
  const unusedKeys = [...tensors.keys()].filter((k) => !used.has(k));
  const aux = unusedKeys.filter((k) => AUX_HEAD.test(k));
  if (aux.length) notes.push(`the training-only auxiliary heads are not part of the graph (${aux.length} keys)`);
  const other = unusedKeys.filter((k) => !AUX_HEAD.test(k));
  if (other.length) notes.push(`keys outside the RepVGG network are not part of the graph: ${describeKeys(other)}`);

  const stages: ArchStage[] = [];
  for (const b of blocks) {
    const last = stages[stages.length - 1];
    if (last && last.name === b.stage) stages[stages.length - 1] = { ...last, blocks: last.blocks + 1 };
    else stages.push({ name: b.stage, blocks: 1, width: b.outChannels });
  }
  const convBranches = (b: ArchBlock) => b.train?.block.branches.filter((x) => x.steps[0]?.op === 'conv' && x.steps[0].weight.tensor.shape[2] === b.kernel[0] && x.steps[0].weight.tensor.shape[3] === b.kernel[1]).length;
  const shapes: BlockShape[][] = stages.map((s) => blocks.filter((b) => b.stage === s.name).map((b) => ({ outChannels: b.outChannels, groups: b.groups, seInternal: b.se?.internal ?? 0, convBranches: convBranches(b) })));
  const named = nameArchitecture(scheme, shapes, options.arch);
  if (named && head && head.classes !== 1000) notes.push(`${named.name} with a ${head.classes}-class head (ImageNet has 1000)`);

  const forms = new Set(blocks.map((b) => (b.train ? 'train' : 'deploy')));
  return {
    scheme,
    name: named?.name,
    nameFrom: named ? (options.arch ? 'forced' : 'matched') : undefined,
    form: forms.size === 2 ? 'mixed' : forms.has('train') ? 'train' : 'deploy',
    inputChannels: blocks[0].inChannels,
    root,
    stages,
    blocks,
    head,
    unusedKeys,
    notes,
  };
}

function checkContiguous(blocks: readonly Located[]): void {
  const byStage = new Map<string, number[]>();
  for (const b of blocks) byStage.set(b.stage, [...(byStage.get(b.stage) ?? []), b.index]);
  for (const [stage, idx] of byStage) {
    idx.forEach((i, n) => {
      if (i !== n) throw new UserError(`stage '${stage}' has no block ${n} (it has ${idx.join(', ')})`, { code: 'BAD_INPUT' });
    });
  }
}

function findSe(block: string, channels: number, tensors: ReadonlyMap<string, Tensor>, spec: SchemeSpec, used: Set<string>): ArchSe | undefined {
  const layout = spec.se;
  if (!layout) return undefined;
  const prefix = join(block, layout.module);
  const keys = [...tensors.keys()].filter((k) => under(k, prefix) !== undefined);
  if (keys.length === 0) return undefined;
  const conv = (name: string) => ({ weight: join(prefix, `${name}.weight`), bias: tensors.has(join(prefix, `${name}.bias`)) ? join(prefix, `${name}.bias`) : undefined });
  const down = conv(layout.down);
  const up = conv(layout.up);
  const known = new Set([down.weight, down.bias, up.weight, up.bias].filter((k): k is string => !!k));
  const unknown = keys.filter((k) => !known.has(k));
  if (unknown.length || !tensors.has(down.weight) || !tensors.has(up.weight)) {
    throw new UserError(`SE module '${prefix}' is not the ${spec.name} layout (${layout.down} and ${layout.up} 1x1 convs); it has ${describeKeys(keys)}`, { code: 'UNSUPPORTED' });
  }
  const d = tensors.get(down.weight)!.shape;
  const u = tensors.get(up.weight)!.shape;
  const internal = d[0];
  const ok = d.length === 4 && u.length === 4 && d[1] === channels && u[0] === channels && u[1] === internal && d[2] * d[3] * u[2] * u[3] === 1;
  if (!ok) throw new UserError(`SE '${prefix}' has weights [${d}] and [${u}], not 1x1 convs ${channels} → n → ${channels}`, { code: 'BAD_INPUT' });
  known.forEach((k) => used.add(k));
  return { prefix, down, up, internal, layout };
}

function findHead(head: string, root: string, channels: number, tensors: ReadonlyMap<string, Tensor>): ArchHead | undefined {
  const base = [head, `${root}${head}`].find((b) => tensors.has(`${b}.weight`));
  if (base === undefined) return undefined;
  const weight = `${base}.weight`;
  const shape = tensors.get(weight)!.shape;
  if (shape.length !== 2 || shape[1] !== channels) {
    throw new UserError(`head '${weight}' has shape [${shape}], not [classes, ${channels}]`, { code: 'BAD_INPUT' });
  }
  const bias = tensors.has(`${base}.bias`) ? `${base}.bias` : undefined;
  return { weight, bias, inFeatures: channels, classes: shape[0] };
}

function nameArchitecture(scheme: SchemeName, shapes: BlockShape[][], forced?: string): OfficialArch | undefined {
  const family: ArchFamily = scheme === 'repvggplus' ? 'repvggplus' : scheme.startsWith('mobileone') ? 'mobileone' : 'repvgg';
  if (forced) {
    const a = findOfficialArch(forced);
    const why = a.family !== family ? `${a.name} is a ${a.family} model, the weights are ${scheme}'s` : archMismatch(a, shapes);
    if (why) throw new UserError(`the weights are not ${a.name}: ${why}`, { code: 'BAD_USAGE' });
    return a;
  }
  return OFFICIAL_ARCHS.find((a) => a.family === family && archMismatch(a, shapes) === undefined);
}
