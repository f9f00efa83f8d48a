// Seeded synthetic RepVGG classifiers as state dicts, in the key layout of each classifier scheme: random
// stage counts, widths, groups, SE, conv biases and affine-less BNs, with the structure they were built
// from so that tests can check what inference recovers.
import { StateDict } from '../../src/formats/state-dict';
import { SchemeName, SCHEMES } from '../../src/checkpoint';
import { Tensor, tensorFromArray } from '../../src/tensor';
import { Rng } from '../helpers/random';

export type ClassifierScheme = 'official' | 'repvggplus' | 'timm' | 'mmpretrain';

export interface SyntheticBlock {
  readonly name: string;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly groups: number;
  readonly stride: number;
  readonly identity: boolean;
  readonly seInternal: number;
}

export interface SyntheticNet {
  readonly sd: StateDict;
  readonly blocks: readonly SyntheticBlock[];
  readonly classes: number;
  readonly inputShape: readonly number[];
}

const LAYOUT: Record<ClassifierScheme, { stem: string; block: (stage: number, i: number) => string; head: string }> = {
  official: { stem: 'stage0', block: (s, i) => `stage${s}.${i}`, head: 'linear' },
  repvggplus: { stem: 'stage0', block: (s, i) => `${['stage1', 'stage2', 'stage3_first', 'stage4'][s - 1]}.blocks.${i}`, head: 'linear' },
  timm: { stem: 'stem', block: (s, i) => `stages.${s - 1}.${i}`, head: 'head.fc' },
  mmpretrain: { stem: 'backbone.stem', block: (s, i) => `backbone.stage_${s}.${i}`, head: 'head.fc' },
};

/** The branch module names of each scheme: dense, 1x1, identity, and the conv and BN inside a branch. */
export const NAMES: Record<ClassifierScheme, { dense: string; oneByOne: string; identity: string; conv: string; bn: string }> = {
  official: { dense: 'rbr_dense', oneByOne: 'rbr_1x1', identity: 'rbr_identity', conv: 'conv', bn: 'bn' },
  repvggplus: { dense: 'rbr_dense', oneByOne: 'rbr_1x1', identity: 'rbr_identity', conv: 'conv', bn: 'bn' },
  timm: { dense: 'conv_kxk', oneByOne: 'conv_1x1', identity: 'identity', conv: 'conv', bn: 'bn' },
  mmpretrain: { dense: 'branch_3x3', oneByOne: 'branch_1x1', identity: 'branch_norm', conv: 'conv', bn: 'norm' },
};

/** Creation order of a block's parts, which fixes the key order of the state dict. */
const ORDER: Record<ClassifierScheme, readonly ('se' | 'identity' | 'dense' | 'one')[]> = {
  official: ['se', 'identity', 'dense', 'one'],
  repvggplus: ['se', 'identity', 'dense', 'one'],
  timm: ['identity', 'dense', 'one', 'se'],
  mmpretrain: ['identity', 'dense', 'one', 'se'],
};

export function syntheticClassifier(r: Rng, scheme: ClassifierScheme, options: { withSe?: boolean } = {}): SyntheticNet {
  const spec = { ...SCHEMES[scheme as SchemeName], ...NAMES[scheme] };
  const layout = LAYOUT[scheme];
  const out = new Map<string, Tensor>();
  const put = (key: string, shape: number[], values: Float32Array) => out.set(key, tensorFromArray(shape, values));
  const counter = (key: string) =>
    out.set(key, { dtype: 'int64', shape: [], data: { kind: 'memory', bytes: new Uint8Array(new BigInt64Array([BigInt(r.int(0, 5000))]).buffer) } });
  const bn = (prefix: string, c: number, affine: boolean) => {
    if (affine) {
      put(`${prefix}.weight`, [c], Float32Array.from({ length: c }, () => (r.float() < 0 ? -1 : 1) * r.float(0.5, 1.5)));
      put(`${prefix}.bias`, [c], r.floats(c, -0.3, 0.3));
    }
    put(`${prefix}.running_mean`, [c], r.floats(c, -0.5, 0.5));
    put(`${prefix}.running_var`, [c], r.floats(c, 0.2, 2));
    counter(`${prefix}.num_batches_tracked`);
  };
  const withSe = options.withSe ?? r.float(0, 1) < 0.5;

  const blocks: SyntheticBlock[] = [];
  const stemWidth = r.pick([4, 8]);
  const plan: { name: string; out: number; stride: number; first: boolean }[] = [{ name: layout.stem, out: stemWidth, stride: 2, first: true }];
  const stages = r.int(1, 3);
  for (let s = 1; s <= stages; s++) {
    const width = r.pick([4, 8, 12, 16]);
    const n = r.int(1, 3);
    for (let i = 0; i < n; i++) plan.push({ name: layout.block(s, i), out: width, stride: i === 0 ? 2 : 1, first: i === 0 });
  }
  let channels = 3;
  for (const p of plan) {
    const inC = channels;
    const identity = inC === p.out && p.stride === 1;
    const groupChoices = blocks.length === 0 ? [1] : [1, 2, 4].filter((g) => inC % g === 0 && p.out % g === 0);
    const groups = r.pick(groupChoices);
    const ipg = inC / groups;
    const seInternal = withSe ? Math.max(1, Math.floor(p.out / 4)) : 0;
    const convBias = r.float(0, 1) < 0.2;
    const affine = r.float(0, 1) < 0.85;
    for (const part of ORDER[scheme]) {
      if (part === 'se' && seInternal && spec.se) {
        const m = `${p.name}.${spec.se.module}`;
        put(`${m}.${spec.se.down}.weight`, [seInternal, p.out, 1, 1], r.floats(seInternal * p.out, -0.5, 0.5));
        put(`${m}.${spec.se.down}.bias`, [seInternal], r.floats(seInternal, -0.2, 0.2));
        put(`${m}.${spec.se.up}.weight`, [p.out, seInternal, 1, 1], r.floats(seInternal * p.out, -0.5, 0.5));
        put(`${m}.${spec.se.up}.bias`, [p.out], r.floats(p.out, -0.2, 0.2));
      } else if (part === 'identity' && identity) {
        bn(`${p.name}.${spec.identity}`, p.out, affine);
      } else if (part === 'dense' || part === 'one') {
        const branch = `${p.name}.${part === 'dense' ? spec.dense : spec.oneByOne}`;
        const k = part === 'dense' ? 3 : 1;
        const scale = 1 / Math.sqrt(ipg * k * k);
        put(`${branch}.${spec.conv}.weight`, [p.out, ipg, k, k], r.floats(p.out * ipg * k * k, -scale, scale));
        if (convBias) put(`${branch}.${spec.conv}.bias`, [p.out], r.floats(p.out, -0.2, 0.2));
        bn(`${branch}.${spec.bn}`, p.out, affine);
      }
    }
    blocks.push({ name: p.name, inChannels: inC, outChannels: p.out, groups, stride: p.stride, identity, seInternal });
    channels = p.out;
  }
  const classes = r.int(2, 7);
  put(`${layout.head}.weight`, [classes, channels], r.floats(classes * channels, -0.5, 0.5));
  put(`${layout.head}.bias`, [classes], r.floats(classes, -0.1, 0.1));
  const side = r.pick([16, 24, 32]);
  return { sd: { tensors: out, metadata: {}, notes: [] }, blocks, classes, inputShape: [1, 3, side, side] };
}

/** A copy of a state dict with one tensor replaced (or removed when `t` is undefined), keeping key order. */
export function withTensor(sd: StateDict, key: string, t: Tensor | undefined, rename?: string): StateDict {
  const tensors = new Map<string, Tensor>();
  for (const [k, v] of sd.tensors) {
    if (k !== key) tensors.set(k, v);
    else if (t) tensors.set(rename ?? k, t);
  }
  return { ...sd, tensors };
}
