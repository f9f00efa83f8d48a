// The key schemes of the RepVGG implementations in the wild, and telling them apart from the keys alone.
// A scheme fixes the branch names inside a block, the conv/BN names inside a branch, the deploy conv name,
// the SE layout and the BN eps its training code uses (the eps is not in the weights).
import { UserError } from '../errors';
import { StateDict } from '../formats/state-dict';
import { describeKeys, join, prefixBefore } from './keys';

export type SchemeName = 'official' | 'repvggplus' | 'timm' | 'mmpretrain' | 'yolov6' | 'yolov7';

export const SCHEME_NAMES: readonly SchemeName[] = ['official', 'repvggplus', 'timm', 'mmpretrain', 'yolov6', 'yolov7'];

export type BranchRole = 'dense' | 'oneByOne' | 'identity';

/** Squeeze-and-excitation inside a block: pool, 1x1 down (bias), ReLU, 1x1 up (bias), sigmoid, scale. */
export interface SeLayout {
  /** Module name under the block, e.g. 'se'. */
  readonly module: string;
  /** Down and up conv names under the module, e.g. 'down' / 'up' or 'conv1.conv' / 'conv2.conv'. */
  readonly down: string;
  readonly up: string;
  /** Official RepVGG scales the branch sum before its ReLU; RepVGGplus scales after it. */
  readonly placement: 'before-act' | 'after-act';
  /** 'window': avg_pool2d with a kernel as wide as the map (official); 'global': a mean over H and W. */
  readonly pool: 'window' | 'global';
}

export interface SchemeSpec {
  readonly name: SchemeName;
  /** Where the names come from, for reports. */
  readonly source: string;
  readonly dense: string;
  readonly oneByOne: string;
  readonly identity: string;
  /** Names of the conv and the BN inside a conv branch. */
  readonly conv: string;
  readonly bn: string;
  /** The single conv of the deploy form. */
  readonly deploy: string;
  readonly se?: SeLayout;
  /** Activation module name (for ONNX node names). */
  readonly act: string;
  /** Order of the branch additions in the training forward. */
  readonly sumOrder: readonly BranchRole[];
  /** BN eps the scheme's training code sets; PyTorch's default unless the code changes it. */
  readonly bnEps: number;
}

const RBR = { dense: 'rbr_dense', oneByOne: 'rbr_1x1', identity: 'rbr_identity', deploy: 'rbr_reparam' } as const;
const OFFICIAL_SUM: readonly BranchRole[] = ['dense', 'oneByOne', 'identity'];

export const SCHEMES: Readonly<Record<SchemeName, SchemeSpec>> = {
  official: {
    name: 'official', source: 'DingXiaoH/RepVGG repvgg.py', ...RBR, conv: 'conv', bn: 'bn', act: 'nonlinearity',
    se: { module: 'se', down: 'down', up: 'up', placement: 'before-act', pool: 'window' },
    sumOrder: OFFICIAL_SUM, bnEps: 1e-5,
  },
  repvggplus: {
    name: 'repvggplus', source: 'DingXiaoH/RepVGG repvggplus.py', ...RBR, conv: 'conv', bn: 'bn', act: 'nonlinearity',
    se: { module: 'post_se', down: 'down', up: 'up', placement: 'after-act', pool: 'window' },
    sumOrder: OFFICIAL_SUM, bnEps: 1e-5,
  },
  timm: {
    name: 'timm', source: 'timm byobnet.py RepVggBlock', dense: 'conv_kxk', oneByOne: 'conv_1x1', identity: 'identity',
    deploy: 'reparam_conv', conv: 'conv', bn: 'bn', act: 'act',
    se: { module: 'attn', down: 'fc1', up: 'fc2', placement: 'before-act', pool: 'global' },
    sumOrder: ['oneByOne', 'dense', 'identity'], bnEps: 1e-5,
  },
  mmpretrain: {
    name: 'mmpretrain', source: 'mmpretrain backbones/repvgg.py', dense: 'branch_3x3', oneByOne: 'branch_1x1', identity: 'branch_norm',
    deploy: 'branch_reparam', conv: 'conv', bn: 'norm', act: 'act',
    se: { module: 'se_layer', down: 'conv1.conv', up: 'conv2.conv', placement: 'before-act', pool: 'global' },
    sumOrder: OFFICIAL_SUM, bnEps: 1e-5,
  },
  // YOLOv6 and YOLOv7 set every BN to eps 1e-3 in initialize_weights.
  yolov6: {
    name: 'yolov6', source: 'YOLOv6 yolov6/layers/common.py RepVGGBlock', ...RBR, conv: 'conv', bn: 'bn', act: 'nonlinearity',
    sumOrder: OFFICIAL_SUM, bnEps: 1e-3,
  },
  yolov7: {
    name: 'yolov7', source: 'YOLOv7 models/common.py RepConv', ...RBR, conv: '0', bn: '1', act: 'act',
    sumOrder: OFFICIAL_SUM, bnEps: 1e-3,
  },
};

/** Schemes whose models are a plain chain of blocks with a classifier head: architecture inference works. */
export const CLASSIFIER_SCHEMES: readonly SchemeName[] = ['official', 'repvggplus', 'timm', 'mmpretrain'];

export function schemeSpec(name: SchemeName): SchemeSpec {
  return SCHEMES[name];
}

export function parseSchemeName(name: string): SchemeName {
  const n = name.toLowerCase();
  if ((SCHEME_NAMES as readonly string[]).includes(n)) return n as SchemeName;
  throw new UserError(`unknown key scheme '${name}'`, { code: 'BAD_USAGE', hint: `use one of ${SCHEME_NAMES.join(', ')}` });
}

/** The dense-branch conv weight, which every training-form block has: its key names the block. */
export function denseWeightSuffix(s: SchemeSpec): string {
  return `${s.dense}.${s.conv}.weight`;
}

export function deployWeightSuffix(s: SchemeSpec): string {
  return `${s.deploy}.weight`;
}

/** Key families that look alike: official, RepVGGplus and YOLOv6 share every block name. */
interface Family {
  readonly label: string;
  readonly train?: string;
  readonly deploy: string;
  readonly schemes: readonly SchemeName[];
}

const FAMILIES: readonly Family[] = [
  { label: 'rbr_dense.conv / rbr_1x1.conv / rbr_identity', train: 'rbr_dense.conv.weight', deploy: 'rbr_reparam.weight', schemes: ['official', 'repvggplus', 'yolov6'] },
  { label: 'rbr_dense.0 / rbr_1x1.0 / rbr_identity', train: 'rbr_dense.0.weight', deploy: 'rbr_reparam.weight', schemes: ['yolov7'] },
  { label: 'conv_kxk.conv / conv_1x1.conv / identity', train: 'conv_kxk.conv.weight', deploy: 'reparam_conv.weight', schemes: ['timm'] },
  { label: 'branch_3x3.conv / branch_1x1.conv / branch_norm', train: 'branch_3x3.conv.weight', deploy: 'branch_reparam.weight', schemes: ['mmpretrain'] },
];

const REPVGGPLUS_MARKS = [/(^|\.)stage3_(first|second)\./, /(^|\.)post_se\./, /(^|\.)stage\d\w*_aux\./, /(^|\.)stage\d\.blocks\.\d+\./];
const OFFICIAL_BLOCK = /(^|\.)(stage0|stage\d+\.\d+)$/;
const YOLOV7_BLOCK = /^model\.\d+$/;

/**
 * The scheme the keys follow. Training-form names decide first; a checkpoint with only deploy convs is
 * told apart by its layout (official stage names, RepVGGplus marks, YOLOv7 `model.N`), else YOLOv6.
 */
export function detectScheme(sd: StateDict): SchemeName {
  const keys = [...sd.tensors.keys()];
  const prefixes = (suffix: string) => keys.map((k) => prefixBefore(k, suffix)).filter((p): p is string => p !== undefined);
  const train = FAMILIES.filter((f) => f.train).map((f) => ({ f, blocks: prefixes(f.train!) })).filter((x) => x.blocks.length > 0);
  if (train.length > 1) {
    throw new UserError(`the keys mix several RepVGG key schemes: ${train.map((x) => `${x.blocks.length} blocks named ${x.f.label}`).join('; ')}`, {
      code: 'UNSUPPORTED',
      hint: `name the scheme to convert (one of ${SCHEME_NAMES.join(', ')})`,
    });
  }
  if (train.length === 1) return refine(train[0].f, train[0].blocks, keys, 'train');

  const deployFamilies = [...new Set(FAMILIES.map((f) => f.deploy))];
  const deploy = deployFamilies.map((suffix) => ({ suffix, blocks: prefixes(suffix) })).filter((x) => x.blocks.length > 0);
  if (deploy.length > 1) {
    throw new UserError(`the keys mix several deploy-form schemes: ${deploy.map((x) => `${x.blocks.length} × ${x.suffix}`).join('; ')}`, {
      code: 'UNSUPPORTED',
      hint: `name the scheme (one of ${SCHEME_NAMES.join(', ')})`,
    });
  }
  if (deploy.length === 1) {
    const family = FAMILIES.find((f) => f.deploy === deploy[0].suffix)!;
    return refine(family, deploy[0].blocks, keys, 'deploy');
  }
  const looked = FAMILIES.flatMap((f) => [f.train, f.deploy]).filter((s): s is string => !!s);
  throw new UserError(`no RepVGG-style blocks in this checkpoint: no key ends in ${[...new Set(looked)].join(', ')} (keys: ${describeKeys(keys)})`, {
    code: 'UNSUPPORTED',
    hint: `supported schemes: ${SCHEME_NAMES.join(', ')}; see docs/checkpoints.md. Other block types (MobileOne, ACNet) convert from ONNX: export the training-time model with torch.onnx.export and convert the .onnx`,
  });
}

function refine(f: Family, blocks: readonly string[], keys: readonly string[], form: 'train' | 'deploy'): SchemeName {
  if (f.schemes.length === 1 && form === 'train') return f.schemes[0];
  if (f.schemes.includes('repvggplus') && keys.some((k) => REPVGGPLUS_MARKS.some((re) => re.test(k)))) return 'repvggplus';
  if (f.schemes.includes('official') && blocks.every((b) => OFFICIAL_BLOCK.test(b))) return 'official';
  // rbr_reparam alone is shared by YOLOv6 and YOLOv7; YOLOv7 numbers its top-level modules model.N.
  if (form === 'deploy' && f.deploy === join(RBR.deploy, 'weight') && blocks.every((b) => YOLOV7_BLOCK.test(b))) return 'yolov7';
  return f.schemes.includes('yolov6') ? 'yolov6' : f.schemes[0];
}
