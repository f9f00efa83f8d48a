// The key schemes of the re-parameterizable blocks in the wild, and telling them apart from the keys
// alone. A scheme is a recipe of the block model (reparam/block.ts): the modules of a block in the
// order the training forward sums them, the steps inside each module and the keys of each step, the
// deploy conv's name, the SE layout and the BN eps the training code uses (the eps is not in the
// weights). Adding a family here is one entry of SCHEMES (and, when its keys look like another's, one
// line in FAMILIES).
import { UserError } from '../errors';
import { StateDict } from '../formats/state-dict';
import { describeKeys, join, prefixBefore } from './keys';

export const SCHEME_NAMES = [
  'official', 'repvggplus', 'timm', 'mmpretrain', 'yolov6', 'yolov7', 'yolov6-qarepvgg', 'yolov6-qarepvgg2', 'mobileone-apple', 'mobileone-timm', 'acnet', 'dbb',
] as const;

export type SchemeName = (typeof SCHEME_NAMES)[number];

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

/**
 * A step inside a module, with its keys relative to the module (`conv: ''` is the module itself, a bare
 * conv). Convs are 'same'-padded (k // 2) unless `valid`; a kernel of 'block' size is the block's
 * largest; `pad` and `avgpool` work over the block's kernel size.
 */
export type StepRecipe =
  | { readonly conv: string; readonly valid?: boolean; readonly plusIdentity?: boolean }
  | { readonly bn: string }
  | { readonly pad: 'prefix' }
  | { readonly avgpool: 'valid' | 'same' };

export interface BranchRecipe {
  /** The module under the block ('rbr_dense'); 'rbr_conv.*' is a list rbr_conv.0, rbr_conv.1, …; '' when the steps' modules sit under the block itself. */
  readonly module: string;
  /** Names the branch in reports where `module` is ''. */
  readonly label?: string;
  /** Alternative step lists; the first whose keys are all there is taken. */
  readonly variants: readonly (readonly StepRecipe[])[];
  /** A branch with no keys at all, there when the block maps C channels to C at stride 1 (see SchemeSpec.strided). */
  readonly keyless?: boolean;
}

export interface SchemeSpec {
  readonly name: SchemeName;
  /** Where the names come from, for reports. */
  readonly source: string;
  /** The key under a block that names it (its first branch's conv weight): 'rbr_dense.conv.weight'. */
  readonly anchor: string;
  /** In the order the training forward sums them. */
  readonly branches: readonly BranchRecipe[];
  /** The single conv of the deploy form. */
  readonly deploy: string;
  /** Modules under a block that are neither branches nor merged, kept as they are (QARepVGG's BN after the sum). */
  readonly kept?: readonly string[];
  /** Blocks that downsample (stride 2), by name, where keyless branches depend on the stride: YOLOv6's stem and the first block of each ERBlock. */
  readonly strided?: RegExp;
  readonly se?: SeLayout;
  /** Activation module name (for ONNX node names). */
  readonly act: string;
  /** BN eps the scheme's training code sets; PyTorch's default unless the code changes it. */
  readonly bnEps: number;
}

const conv = (m: string, o: { valid?: boolean; plusIdentity?: boolean } = {}): StepRecipe => ({ conv: m, ...o });
const bn = (m: string): StepRecipe => ({ bn: m });
const convBn = (c = 'conv', b = 'bn'): readonly StepRecipe[] => [conv(c), bn(b)];
const one = (steps: readonly StepRecipe[]): readonly (readonly StepRecipe[])[] => [steps];

/** RepVGG's three branches under a scheme's names. */
function repvgg(dense: string, oneByOne: string, identity: string, c = 'conv', b = 'bn', order: 'dense-first' | 'one-first' = 'dense-first'): BranchRecipe[] {
  const d = { module: dense, variants: one(convBn(c, b)) };
  const o = { module: oneByOne, variants: one(convBn(c, b)) };
  const i = { module: identity, variants: one([bn('')]) };
  return order === 'dense-first' ? [d, o, i] : [o, d, i];
}

const RBR = repvgg('rbr_dense', 'rbr_1x1', 'rbr_identity');
/** EfficientRep's downsampling blocks: the stem and the first block of every ERBlock. */
const YOLOV6_DOWNSAMPLE = /(^|\.)(stem|ERBlock_\d+\.0)$/;
const QA: BranchRecipe[] = [
  { module: 'rbr_dense', variants: one(convBn()) },
  { module: 'rbr_1x1', variants: one([conv('')]) },
  { module: 'rbr_identity', variants: one([]), keyless: true },
];
const MOBILEONE = (skip: string, convs: string, scale: string): BranchRecipe[] => [
  { module: scale, variants: one(convBn()) },
  { module: skip, variants: one([bn('')]) },
  { module: `${convs}.*`, variants: one(convBn()) },
];

export const SCHEMES: Readonly<Record<SchemeName, SchemeSpec>> = {
  official: {
    name: 'official', source: 'DingXiaoH/RepVGG repvgg.py', anchor: 'rbr_dense.conv.weight', branches: RBR, deploy: 'rbr_reparam', act: 'nonlinearity',
    se: { module: 'se', down: 'down', up: 'up', placement: 'before-act', pool: 'window' }, bnEps: 1e-5,
  },
  repvggplus: {
    name: 'repvggplus', source: 'DingXiaoH/RepVGG repvggplus.py', anchor: 'rbr_dense.conv.weight', branches: RBR, deploy: 'rbr_reparam', act: 'nonlinearity',
    se: { module: 'post_se', down: 'down', up: 'up', placement: 'after-act', pool: 'window' }, bnEps: 1e-5,
  },
  timm: {
    name: 'timm', source: 'timm byobnet.py RepVggBlock', anchor: 'conv_kxk.conv.weight', branches: repvgg('conv_kxk', 'conv_1x1', 'identity', 'conv', 'bn', 'one-first'),
    deploy: 'reparam_conv', act: 'act', se: { module: 'attn', down: 'fc1', up: 'fc2', placement: 'before-act', pool: 'global' }, bnEps: 1e-5,
  },
  mmpretrain: {
    name: 'mmpretrain', source: 'mmpretrain backbones/repvgg.py', anchor: 'branch_3x3.conv.weight', branches: repvgg('branch_3x3', 'branch_1x1', 'branch_norm', 'conv', 'norm'),
    deploy: 'branch_reparam', act: 'act', se: { module: 'se_layer', down: 'conv1.conv', up: 'conv2.conv', placement: 'before-act', pool: 'global' }, bnEps: 1e-5,
  },
  // YOLOv6 and YOLOv7 set every BN to eps 1e-3 in initialize_weights.
  yolov6: { name: 'yolov6', source: 'YOLOv6 yolov6/layers/common.py RepVGGBlock', anchor: 'rbr_dense.conv.weight', branches: RBR, deploy: 'rbr_reparam', act: 'nonlinearity', bnEps: 1e-3 },
  yolov7: { name: 'yolov7', source: 'YOLOv7 models/common.py RepConv', anchor: 'rbr_dense.0.weight', branches: repvgg('rbr_dense', 'rbr_1x1', 'rbr_identity', '0', '1'), deploy: 'rbr_reparam', act: 'act', bnEps: 1e-3 },
  'yolov6-qarepvgg': {
    name: 'yolov6-qarepvgg', source: 'YOLOv6 yolov6/layers/common.py QARepVGGBlock', anchor: 'rbr_dense.conv.weight', branches: QA, deploy: 'rbr_reparam', kept: ['bn'], strided: YOLOV6_DOWNSAMPLE, act: 'nonlinearity', bnEps: 1e-3,
  },
  'yolov6-qarepvgg2': {
    name: 'yolov6-qarepvgg2', source: 'YOLOv6 yolov6/layers/common.py QARepVGGBlockV2', anchor: 'rbr_dense.conv.weight',
    branches: [...QA, { module: 'rbr_avg', variants: one([{ avgpool: 'same' }]), keyless: true }], deploy: 'rbr_reparam', kept: ['bn'], strided: YOLOV6_DOWNSAMPLE, act: 'nonlinearity', bnEps: 1e-3,
  },
  'mobileone-apple': {
    name: 'mobileone-apple', source: 'apple/ml-mobileone mobileone.py MobileOneBlock', anchor: 'rbr_conv.0.conv.weight', branches: MOBILEONE('rbr_skip', 'rbr_conv', 'rbr_scale'),
    deploy: 'reparam_conv', act: 'activation', se: { module: 'se', down: 'reduce', up: 'expand', placement: 'before-act', pool: 'global' }, bnEps: 1e-5,
  },
  'mobileone-timm': {
    name: 'mobileone-timm', source: 'timm byobnet.py MobileOneBlock', anchor: 'conv_kxk.0.conv.weight', branches: MOBILEONE('identity', 'conv_kxk', 'conv_scale'),
    deploy: 'reparam_conv', act: 'act', se: { module: 'attn', down: 'fc1', up: 'fc2', placement: 'before-act', pool: 'global' }, bnEps: 1e-5,
  },
  // ACNet's BNs are modules beside the convs: square_bn after square_conv, and so on.
  acnet: {
    name: 'acnet', source: 'DingXiaoH/ACNet acb.py ACBlock', anchor: 'square_conv.weight',
    branches: ['square', 'ver', 'hor'].map((n) => ({ module: '', label: n, variants: one([conv(`${n}_conv`), bn(`${n}_bn`)]) })),
    deploy: 'fused_conv', act: 'nonlinear', bnEps: 1e-5,
  },
  dbb: {
    name: 'dbb', source: 'DingXiaoH/DiverseBranchBlock diversebranchblock.py', anchor: 'dbb_origin.conv.weight',
    branches: [
      { module: 'dbb_origin', variants: one(convBn()) },
      { module: 'dbb_1x1', variants: one(convBn()) },
      // BNAndPadLayer pads with what its BN gives for 0; the depthwise form pools the padded input itself.
      { module: 'dbb_avg', variants: [[conv('conv'), bn('bn.bn'), { pad: 'prefix' }, { avgpool: 'valid' }, bn('avgbn')], [{ avgpool: 'same' }, bn('avgbn')]] },
      {
        module: 'dbb_1x1_kxk',
        variants: [
          [conv('idconv1', { plusIdentity: true }), bn('bn1.bn'), { pad: 'prefix' }, conv('conv2', { valid: true }), bn('bn2')],
          [conv('conv1'), bn('bn1.bn'), { pad: 'prefix' }, conv('conv2', { valid: true }), bn('bn2')],
        ],
      },
    ],
    deploy: 'dbb_reparam', act: 'nonlinear', bnEps: 1e-5,
  },
};

/** Schemes whose models are a plain chain of blocks with a classifier head: architecture inference works. */
export const CLASSIFIER_SCHEMES: readonly SchemeName[] = ['official', 'repvggplus', 'timm', 'mmpretrain', 'mobileone-apple', 'mobileone-timm'];

export function schemeSpec(name: SchemeName): SchemeSpec {
  return SCHEMES[name];
}

export function parseSchemeName(name: string): SchemeName {
  const n = name.toLowerCase();
  if ((SCHEME_NAMES as readonly string[]).includes(n)) return n as SchemeName;
  throw new UserError(`unknown key scheme '${name}'`, { code: 'BAD_USAGE', hint: `use one of ${SCHEME_NAMES.join(', ')}` });
}

export function deployWeightSuffix(s: SchemeSpec): string {
  return `${s.deploy}.weight`;
}

/** Schemes whose training keys share a block anchor, in the order their claims are tried. */
interface Family {
  readonly label: string;
  readonly anchor: string;
  readonly schemes: readonly SchemeName[];
}

const FAMILIES: readonly Family[] = [
  { label: 'rbr_dense.conv / rbr_1x1 / rbr_identity', anchor: 'rbr_dense.conv.weight', schemes: ['repvggplus', 'yolov6-qarepvgg', 'official', 'yolov6'] },
  { label: 'rbr_dense.0 / rbr_1x1.0 / rbr_identity', anchor: 'rbr_dense.0.weight', schemes: ['yolov7'] },
  { label: 'conv_kxk.conv / conv_1x1.conv / identity', anchor: 'conv_kxk.conv.weight', schemes: ['timm'] },
  { label: 'branch_3x3.conv / branch_1x1.conv / branch_norm', anchor: 'branch_3x3.conv.weight', schemes: ['mmpretrain'] },
  { label: 'rbr_conv.N / rbr_scale / rbr_skip', anchor: 'rbr_conv.0.conv.weight', schemes: ['mobileone-apple'] },
  { label: 'conv_kxk.N / conv_scale / identity', anchor: 'conv_kxk.0.conv.weight', schemes: ['mobileone-timm'] },
  { label: 'square_conv / ver_conv / hor_conv', anchor: 'square_conv.weight', schemes: ['acnet'] },
  { label: 'dbb_origin / dbb_1x1 / dbb_avg / dbb_1x1_kxk', anchor: 'dbb_origin.conv.weight', schemes: ['dbb'] },
];

/** Deploy-form checkpoints: schemes sharing a deploy conv name, in the order their claims are tried. */
const DEPLOY_ORDER: readonly SchemeName[] = ['repvggplus', 'yolov6-qarepvgg', 'official', 'yolov7', 'yolov6', 'mobileone-apple', 'mobileone-timm', 'timm', 'mmpretrain', 'acnet', 'dbb'];

const REPVGGPLUS_MARKS = [/(^|\.)stage3_(first|second)\./, /(^|\.)stage\d\w*_aux\./, /(^|\.)post_se\./, /(^|\.)stage\d\.blocks\.\d+\./];
const OFFICIAL_BLOCK = /(^|\.)(stage0|stage\d+\.\d+)$/;
const YOLOV7_BLOCK = /^model\.\d+$/;

interface Seen {
  readonly keys: readonly string[];
  readonly has: (key: string) => boolean;
  readonly shape: (key: string) => readonly number[] | undefined;
  /** Block names: prefixes of the anchor (training form) or of the deploy conv. */
  readonly blocks: readonly string[];
  readonly form: 'train' | 'deploy';
}

/** Whether keys that fit several schemes are this one's. */
const CLAIMS: Partial<Record<SchemeName, (s: Seen) => boolean>> = {
  repvggplus: (s) => s.keys.some((k) => REPVGGPLUS_MARKS.some((re) => re.test(k))),
  // A bare 1x1 conv in every block, or (deploy form) the BN after the sum kept beside the deploy conv.
  'yolov6-qarepvgg': (s) =>
    s.form === 'train'
      ? s.blocks.every((b) => s.has(join(b, 'rbr_1x1.weight'))) && !s.blocks.some((b) => s.has(join(b, 'rbr_1x1.conv.weight')))
      : s.blocks.every((b) => s.has(join(b, 'bn.running_mean'))),
  official: (s) => s.blocks.every((b) => OFFICIAL_BLOCK.test(b)),
  yolov7: (s) => s.form === 'train' || s.blocks.every((b) => YOLOV7_BLOCK.test(b)),
  'mobileone-apple': (s) => s.blocks.every((b) => OFFICIAL_BLOCK.test(b)),
  // MobileOne's deploy convs alternate depthwise kxk and pointwise 1x1; timm RepVGG's are all kxk.
  'mobileone-timm': (s) => s.form === 'train' || s.blocks.some((b) => s.shape(join(b, 'reparam_conv.weight'))?.[2] === 1),
};

/**
 * The scheme the keys follow. Training-form names decide first; a checkpoint with only deploy convs is
 * told apart by its layout (official stage names, RepVGGplus marks, YOLOv7 `model.N`, a BN kept after
 * QARepVGG's conv, MobileOne's pointwise convs), else YOLOv6.
 */
export function detectScheme(sd: StateDict): SchemeName {
  const keys = [...sd.tensors.keys()];
  const keySet = new Set(keys);
  const prefixes = (suffix: string) => keys.map((k) => prefixBefore(k, suffix)).filter((p): p is string => p !== undefined);
  const seen = (blocks: readonly string[], form: 'train' | 'deploy'): Seen => ({ keys, has: (k) => keySet.has(k), shape: (k) => sd.tensors.get(k)?.shape, blocks, form });
  const pick = (schemes: readonly SchemeName[], s: Seen): SchemeName => schemes.find((n) => CLAIMS[n]?.(s) ?? true) ?? schemes[schemes.length - 1];

  const train = FAMILIES.map((f) => ({ f, blocks: prefixes(f.anchor) })).filter((x) => x.blocks.length > 0);
  if (train.length > 1) {
    throw new UserError(`the keys mix several key schemes: ${train.map((x) => `${x.blocks.length} blocks named ${x.f.label}`).join('; ')}`, {
      code: 'UNSUPPORTED',
      hint: `name the scheme to convert (one of ${SCHEME_NAMES.join(', ')})`,
    });
  }
  if (train.length === 1) {
    const name = pick(train[0].f.schemes, seen(train[0].blocks, 'train'));
    if (name === 'yolov6-qarepvgg') assertQaVersionKnown(sd, train[0].blocks);
    return name;
  }
  const suffixes = [...new Set(SCHEME_NAMES.map((n) => deployWeightSuffix(SCHEMES[n])))];
  const deploy = suffixes.map((suffix) => ({ suffix, blocks: prefixes(suffix) })).filter((x) => x.blocks.length > 0);
  if (deploy.length > 1) {
    throw new UserError(`the keys mix several deploy-form schemes: ${deploy.map((x) => `${x.blocks.length} × ${x.suffix}`).join('; ')}`, {
      code: 'UNSUPPORTED',
      hint: `name the scheme (one of ${SCHEME_NAMES.join(', ')})`,
    });
  }
  if (deploy.length === 1) {
    const schemes = DEPLOY_ORDER.filter((n) => deployWeightSuffix(SCHEMES[n]) === deploy[0].suffix);
    return pick(schemes, seen(deploy[0].blocks, 'deploy'));
  }
  const looked = [...new Set([...FAMILIES.map((f) => f.anchor), ...suffixes])];
  throw new UserError(`no re-parameterizable blocks in this checkpoint: no key ends in ${looked.join(', ')} (keys: ${describeKeys(keys)})`, {
    code: 'UNSUPPORTED',
    hint: `supported schemes: ${SCHEME_NAMES.join(', ')}; see docs/checkpoints.md. A block of another family converts from ONNX: export the training-time model with torch.onnx.export and convert the .onnx`,
  });
}

/**
 * QARepVGGBlock and QARepVGGBlockV2 store the same keys; they differ by an average-pool branch in every
 * block that maps C channels to C, which leaves no key. Where such blocks exist, the version must be named.
 */
function assertQaVersionKnown(sd: StateDict, blocks: readonly string[]): void {
  const square = blocks.filter((b) => {
    const s = sd.tensors.get(join(b, 'rbr_dense.conv.weight'))!.shape;
    return s[0] === s[1] && !YOLOV6_DOWNSAMPLE.test(b);
  });
  if (square.length === 0) return;
  throw new UserError(
    `the keys are YOLOv6 QARepVGG's, whose two versions store the same keys: QARepVGGBlockV2 adds an average-pool branch (no weights) to its ${square.length} blocks with as many input as output channels (${describeKeys(square, 3)})`,
    { code: 'UNSUPPORTED', hint: 'name the scheme: --scheme yolov6-qarepvgg for QARepVGGBlock, --scheme yolov6-qarepvgg2 for QARepVGGBlockV2' },
  );
}
