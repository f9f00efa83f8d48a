// The checkpoint reader of the block model: finds a scheme's blocks anywhere in a state dict by their
// anchor key (a RepVGG stage, a detector's backbone or neck alike), reads each block's modules as the
// scheme's recipe says into a reparam Block whose parameters are the state dict's tensors, and checks
// keys and shapes before anything is computed. Every key under a block's branch modules is the block's;
// a key there that the recipe does not name is refused rather than guessed at.
import { UserError } from '../errors';
import { printable } from '../formats/printable';
import { Block, Branch, Pads, Param, Step } from '../reparam/block';
import { validateBlock, Geometry } from '../reparam/geometry';
import { Tensor } from '../tensor';
import { describeKeys, join, prefixBefore } from './keys';
import { BranchRecipe, SchemeSpec, StepRecipe, deployWeightSuffix } from './schemes';

export interface TrainBlock {
  /** The block's key prefix, e.g. "stage1.0" or "backbone.ERBlock_2.1.conv1". */
  readonly name: string;
  /** The block as the one model; its parameters' names are the keys. */
  readonly block: Block;
  readonly geometry: Geometry;
  /** Every branch key, in source order. */
  readonly keys: readonly string[];
  /** num_batches_tracked of the merged BatchNorms: training counters, dropped. */
  readonly counters: readonly string[];
  readonly outChannels: number;
  /** in_channels / groups, the anchor weight's second dim. */
  readonly inPerGroup: number;
  readonly kernel: readonly [number, number];
  /** Known when the weights decide it (a branch that is x, an identity-based conv, a 1x1 → kxk pair). */
  readonly groups?: number;
  /** A branch that is x itself or x through per-channel steps (then in = out). */
  readonly identity: boolean;
  readonly deploy: { readonly weight: string; readonly bias: string };
}

export interface DeployBlock {
  readonly name: string;
  readonly weight: string;
  readonly bias?: string;
  readonly outChannels: number;
  readonly inPerGroup: number;
  readonly kernel: readonly [number, number];
}

export interface BlockScan {
  /** In the order of each block's first key. */
  readonly train: readonly TrainBlock[];
  readonly deploy: readonly DeployBlock[];
}

const BN_LEAVES = new Set(['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']);

/** Where a key sits: its block, the branch recipe, the list index of a numbered module, and the rest of the key. */
interface Owner {
  readonly block: string;
  readonly branch: number;
  readonly index: number;
  readonly rest: string;
}

/** `eps`: the BN eps, which the weights do not record (the scheme's by default). */
export function scanBlocks(tensors: ReadonlyMap<string, Tensor>, spec: SchemeSpec, eps = spec.bnEps): BlockScan {
  const keys = [...tensors.keys()];
  const names = new Set(keys.map((k) => prefixBefore(k, spec.anchor)).filter((p): p is string => p !== undefined));
  // The module roots of every block: "<block>.<module>" → where keys under it belong.
  const roots = new Map<string, Root | null>();
  for (const b of names) {
    spec.branches.forEach((r, i) => {
      for (const m of rootModules(r)) roots.set(join(b, m), { block: b, branch: i, list: r.module.endsWith('.*'), base: r.module ? join(b, r.module.replace(/\.\*$/, '')) : b });
    });
    for (const k of spec.kept ?? []) roots.set(join(b, k), null);
  }
  const owned = new Map<string, { keys: string[]; parts: Map<string, Map<string, string>> }>();
  for (const key of keys) {
    const o = ownerOf(key, roots);
    if (!o) continue;
    let e = owned.get(o.block);
    if (!e) owned.set(o.block, (e = { keys: [], parts: new Map() }));
    e.keys.push(key);
    const part = `${o.branch}:${o.index}`;
    let m = e.parts.get(part);
    if (!m) e.parts.set(part, (m = new Map()));
    m.set(o.rest, key);
  }
  const train = [...owned.entries()].map(([name, e]) => readBlock(name, e.keys, e.parts, tensors, spec, eps));
  const deploy: DeployBlock[] = [];
  for (const key of keys) {
    const name = prefixBefore(key, deployWeightSuffix(spec));
    if (name === undefined) continue;
    if (names.has(name)) {
      throw new UserError(`block '${printable(name)}' has both training branches and a deploy conv '${printable(key)}': a half-converted checkpoint`, {
        code: 'BAD_INPUT',
        hint: 'convert the original training checkpoint instead',
      });
    }
    const shape = conv4d(key, tensors.get(key)!);
    const biasKey = join(name, `${spec.deploy}.bias`);
    deploy.push({ name, weight: key, bias: tensors.has(biasKey) ? biasKey : undefined, outChannels: shape[0], inPerGroup: shape[1], kernel: [shape[2], shape[3]] });
  }
  return { train, deploy };
}

/** The module roots a branch's keys live under: its module, or the modules of its steps when it has none. */
function rootModules(r: BranchRecipe): string[] {
  if (r.module) return [r.module.replace(/\.\*$/, '')];
  const mods = new Set<string>();
  for (const v of r.variants) for (const s of v) if ('conv' in s || 'bn' in s) mods.add(('conv' in s ? s.conv : s.bn).split('.')[0]);
  return [...mods];
}

interface Root {
  readonly block: string;
  readonly branch: number;
  readonly list: boolean;
  /** What the keys of the branch are relative to: its module, or the block for a branch without one. */
  readonly base: string;
}

/** The innermost root a key is under (null roots keep keys out of any block). */
function ownerOf(key: string, roots: ReadonlyMap<string, Root | null>): Owner | undefined {
  for (let at = key.lastIndexOf('.'); at > 0; at = key.lastIndexOf('.', at - 1)) {
    const root = key.slice(0, at);
    if (!roots.has(root)) continue;
    const r = roots.get(root);
    if (!r) return undefined;
    let rest = r.base ? key.slice(r.base.length + 1) : key;
    let index = 0;
    if (r.list) {
      const m = /^(\d+)\.(.*)$/.exec(rest);
      if (!m) return { block: r.block, branch: r.branch, index: -1, rest };
      index = +m[1];
      rest = m[2];
    }
    return { block: r.block, branch: r.branch, index, rest };
  }
  return undefined;
}

function readBlock(name: string, keys: readonly string[], parts: ReadonlyMap<string, ReadonlyMap<string, string>>, tensors: ReadonlyMap<string, Tensor>, spec: SchemeSpec, eps: number): TrainBlock {
  const anchorKey = join(name, spec.anchor);
  const anchor = conv4d(anchorKey, tensors.get(anchorKey)!);
  const [out, ipg, kh, kw] = anchor;
  if (kh % 2 === 0 || kw % 2 === 0) throw new UserError(`'${printable(anchorKey)}' is a ${kh}x${kw} kernel: only odd kernels have a centre to merge into`, { code: 'UNSUPPORTED' });
  const counters: string[] = [];
  const param = (key: string): Param => ({ name: key, tensor: tensors.get(key)! });

  // Each branch recipe, as many times as it has list entries; keyless branches wait for the channels.
  const found: { recipe: BranchRecipe; index: number; rests: ReadonlyMap<string, string> | undefined }[] = [];
  spec.branches.forEach((r, i) => {
    const entries = [...parts.keys()].filter((p) => p.startsWith(`${i}:`)).map((p) => +p.split(':')[1]).sort((a, b) => a - b);
    if (entries.includes(-1)) {
      const stray = [...parts.get(`${i}:-1`)!.values()];
      throw new UserError(`${describeKeys(stray)}: not part of a ${spec.name} '${r.module}' branch (expected ${r.module.replace('*', 'N')}.…)`, { code: 'UNSUPPORTED' });
    }
    entries.forEach((n, j) => {
      if (n !== j) throw new UserError(`block '${printable(name)}' has ${r.module.replace('*', String(j))} missing before ${r.module.replace('*', String(n))}`, { code: 'BAD_INPUT' });
      found.push({ recipe: r, index: n, rests: parts.get(`${i}:${n}`) });
    });
    if (entries.length === 0 && r.keyless) found.push({ recipe: r, index: 0, rests: undefined });
  });

  const branches: Branch[] = [];
  const keyless: Branch[] = [];
  const stepsOf = new Map<Branch, { kind: StepRecipe; key?: string }[]>();
  for (const f of found) {
    const root = f.recipe.module ? join(name, f.recipe.module.replace('*', String(f.index))) : name;
    const label = f.recipe.module ? f.recipe.module.replace('*', String(f.index)) : f.recipe.label ?? '';
    if (!f.rests) {
      const b: Branch = { steps: [], label };
      keyless.push(b);
      stepsOf.set(b, f.recipe.variants[0].map((s) => ({ kind: s })));
      continue;
    }
    const rests = f.rests;
    const variant = f.recipe.variants.find((v) => v.every((s) => !('conv' in s) || rests.has(leaf(s.conv, 'weight'))));
    if (!variant) {
      throw new UserError(`branch '${printable(root)}' has none of the layouts of a ${spec.name} ${label} branch (keys: ${describeKeys([...rests.values()])})`, { code: 'UNSUPPORTED' });
    }
    const used = new Set<string>();
    const recipeSteps: { kind: StepRecipe; key?: string }[] = [];
    for (const s of variant) {
      if ('conv' in s) {
        const w = leaf(s.conv, 'weight');
        const b = leaf(s.conv, 'bias');
        used.add(w);
        if (rests.has(b)) used.add(b);
        recipeSteps.push({ kind: s, key: rests.get(w) });
      } else if ('bn' in s) {
        const prefix = s.bn ? `${s.bn}.` : '';
        const bnRests = [...rests.keys()].filter((k) => k.startsWith(prefix) && BN_LEAVES.has(k.slice(prefix.length)));
        bnRests.forEach((k) => used.add(k));
        if (!rests.has(`${prefix}running_mean`) || !rests.has(`${prefix}running_var`)) {
          const bnName = join(root, s.bn);
          throw new UserError(`BatchNorm '${printable(bnName)}' has no ${rests.has(`${prefix}running_mean`) ? 'running_var' : 'running_mean'}: it was saved without running statistics`, { code: 'BAD_INPUT' });
        }
        recipeSteps.push({ kind: s, key: rests.get(`${prefix}running_mean`) });
      } else recipeSteps.push({ kind: s });
    }
    const stray = [...rests.entries()].filter(([k]) => !used.has(k)).map(([, key]) => key);
    if (stray.length) {
      throw new UserError(`${describeKeys(stray)}: not part of a ${spec.name} ${label} branch (${variantText(variant)})`, {
        code: 'UNSUPPORTED',
        hint: rests.has('weight') && !variant.some((s) => 'conv' in s && s.conv === '') ? 'a branch that is a bare conv (QARepVGG-style) belongs to another scheme; name it with --scheme' : undefined,
      });
    }
    const b: Branch = { steps: [], label };
    branches.push(b);
    stepsOf.set(b, recipeSteps);
  }

  // Groups, where the weights decide them.
  const shapes = [...stepsOf.values()].flat().filter((s) => 'conv' in s.kind && s.key).map((s) => ({ s: s.kind as { plusIdentity?: boolean }, shape: tensors.get(s.key!)!.shape }));
  let groups: number | undefined;
  const plusId = shapes.find((x) => x.s.plusIdentity);
  if (plusId) groups = plusId.shape[0] / plusId.shape[1];
  for (const steps of stepsOf.values()) {
    const convs = steps.filter((s) => 'conv' in s.kind && s.key).map((s) => tensors.get(s.key!)!.shape);
    if (groups === undefined && convs.length >= 2) groups = convs[0][0] / convs[1][1];
  }
  const convless = branches.some((b) => stepsOf.get(b)!.every((s) => !('conv' in s.kind)));
  if (groups === undefined && convless) groups = out / ipg;
  const g = groups ?? 1;
  if (!Number.isInteger(g) || g < 1) throw new UserError(`block '${printable(name)}': the branch shapes imply ${g} groups`, { code: 'BAD_INPUT' });
  // Keyless branches exist where the block maps C channels to C at stride 1.
  if (out === ipg * g && !spec.strided?.test(name)) branches.push(...keyless);

  // The steps, with 'same' pads and stride 1 (strides are not in the weights; the kernel does not depend on them).
  const half: Pads = [(kh - 1) / 2, (kw - 1) / 2, (kh - 1) / 2, (kw - 1) / 2];
  const none: Pads = [0, 0, 0, 0];
  const blockBranches: Branch[] = branches.map((b) => ({
    label: b.label,
    steps: stepsOf.get(b)!.map(({ kind, key }): Step => {
      if ('conv' in kind) {
        const w = conv4d(key!, tensors.get(key!)!);
        const biasKey = key!.replace(/weight$/, 'bias');
        if (tensors.has(biasKey)) vector(biasKey, tensors.get(biasKey)!, w[0]);
        const pads: Pads = kind.valid ? none : [(w[2] - 1) / 2, (w[3] - 1) / 2, (w[2] - 1) / 2, (w[3] - 1) / 2];
        if (pads.some((p) => !Number.isInteger(p))) throw new UserError(`'${printable(key!)}' is a ${w[2]}x${w[3]} kernel: only odd kernels have a centre to merge into`, { code: 'UNSUPPORTED' });
        return { op: 'conv', weight: param(key!), bias: tensors.has(biasKey) ? param(biasKey) : undefined, group: g, stride: [1, 1], dilation: [1, 1], pads, plusIdentity: kind.plusIdentity };
      }
      if ('bn' in kind) {
        const base = key!.slice(0, -'running_mean'.length);
        const k = (l: string) => (tensors.has(`${base}${l}`) ? `${base}${l}` : undefined);
        const channels = tensors.get(key!)!.shape[0];
        for (const l of ['weight', 'bias', 'running_mean', 'running_var']) if (k(l)) vector(k(l)!, tensors.get(k(l)!)!, channels);
        if (k('num_batches_tracked')) counters.push(k('num_batches_tracked')!);
        return { op: 'bn', gamma: k('weight') ? param(k('weight')!) : undefined, beta: k('bias') ? param(k('bias')!) : undefined, mean: param(k('running_mean')!), variance: param(k('running_var')!), eps };
      }
      if ('pad' in kind) return { op: 'pad', pads: half, fill: 'prefix' };
      return { op: 'avgpool', kernel: [kh, kw], stride: [1, 1], pads: kind.avgpool === 'same' ? half : none, countIncludePad: true };
    }),
  }));
  const block: Block = { name, branches: blockBranches, post: [] };
  const v = validateBlock(block);
  if (!v.ok) throw new UserError(`block '${printable(name)}': ${v.reason}: the branches do not add up`, { code: 'BAD_INPUT' });
  if (v.plan.channelsOut !== out) throw new UserError(`block '${printable(name)}' gives ${v.plan.channelsOut} channels, its anchor ${out}`, { code: 'BAD_INPUT' });
  return {
    name,
    block,
    geometry: v.plan,
    keys,
    counters,
    outChannels: out,
    inPerGroup: ipg,
    kernel: [kh, kw],
    groups,
    identity: blockBranches.some((b) => b.steps.every((s) => s.op === 'bn' || s.op === 'affine')),
    deploy: { weight: join(name, `${spec.deploy}.weight`), bias: join(name, `${spec.deploy}.bias`) },
  };
}

/** The key of a step's tensor relative to the branch's base. */
function leaf(module: string, what: string): string {
  return module ? `${module}.${what}` : what;
}

function variantText(v: readonly StepRecipe[]): string {
  return `expected ${v.map((s) => ('conv' in s ? `${s.conv || 'the module'}.weight` : 'bn' in s ? `${s.bn || 'the module'}.running_var` : '')).filter((x) => x).join(', ')}, …`;
}

function conv4d(key: string, t: Tensor): readonly number[] {
  if (t.shape.length !== 4 || t.shape.some((d) => d < 1)) {
    throw new UserError(`'${printable(key)}' has shape [${t.shape}], not a conv weight [out, in/groups, kh, kw]`, { code: 'BAD_INPUT' });
  }
  return t.shape;
}

function vector(key: string, t: Tensor, n: number): void {
  if (t.shape.length !== 1 || t.shape[0] !== n) {
    throw new UserError(`'${printable(key)}' has shape [${t.shape}], expected [${n}] (one value per output channel)`, { code: 'BAD_INPUT' });
  }
}
