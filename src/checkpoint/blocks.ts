// Finds re-parameterizable blocks anywhere in a state dict by their branch key patterns (a RepVGG stage, a
// detector's backbone or neck alike), and checks each block's keys and shapes before anything is computed.
import { UserError } from '../errors';
import { Tensor } from '../tensor';
import { join, prefixBefore } from './keys';
import { BranchRole, SchemeSpec, denseWeightSuffix, deployWeightSuffix } from './schemes';

export interface BnKeys {
  /** gamma and beta are absent for BatchNorm2d(affine=False): 1 and 0. */
  readonly weight?: string;
  readonly bias?: string;
  readonly mean: string;
  readonly variance: string;
  /** num_batches_tracked: a training counter, dropped with the merged BN. */
  readonly count?: string;
}

export interface ConvBranch {
  readonly role: 'dense' | 'oneByOne';
  readonly prefix: string;
  readonly weight: string;
  readonly bias?: string;
  readonly bn?: BnKeys;
  readonly kernel: readonly [number, number];
}

export interface IdentityBranch {
  readonly role: 'identity';
  readonly prefix: string;
  readonly bn: BnKeys;
}

export interface TrainBlock {
  /** The block's key prefix, e.g. "stage1.0" or "backbone.ERBlock_2.1.conv1". */
  readonly name: string;
  readonly dense: ConvBranch;
  readonly oneByOne?: ConvBranch;
  readonly identity?: IdentityBranch;
  /** Every branch key, in source order. */
  readonly keys: readonly string[];
  readonly outChannels: number;
  /** in_channels / groups, the weight's second dim. */
  readonly inPerGroup: number;
  readonly kernel: readonly [number, number];
  /** Known from the identity branch (in = out); otherwise it takes the previous layer's width. */
  readonly groups?: number;
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

export function scanBlocks(tensors: ReadonlyMap<string, Tensor>, spec: SchemeSpec): BlockScan {
  const keys = [...tensors.keys()];
  const trainNames = new Set(keys.map((k) => prefixBefore(k, denseWeightSuffix(spec))).filter((p): p is string => p !== undefined));
  const roles: readonly [BranchRole, string][] = [
    ['dense', spec.dense],
    ['oneByOne', spec.oneByOne],
    ['identity', spec.identity],
  ];

  // block name → role → (rest of key → key), in source order
  const owned = new Map<string, { keys: string[]; parts: Map<BranchRole, Map<string, string>> }>();
  for (const key of keys) {
    const hit = ownerOf(key, roles, trainNames);
    if (!hit) continue;
    let entry = owned.get(hit.block);
    if (!entry) owned.set(hit.block, (entry = { keys: [], parts: new Map() }));
    entry.keys.push(key);
    let part = entry.parts.get(hit.role);
    if (!part) entry.parts.set(hit.role, (part = new Map()));
    part.set(hit.rest, key);
  }

  const train = [...owned.entries()].map(([name, e]) => parseTrainBlock(name, e.keys, e.parts, tensors, spec));
  const deploy: DeployBlock[] = [];
  for (const key of keys) {
    const name = prefixBefore(key, deployWeightSuffix(spec));
    if (name === undefined) continue;
    if (trainNames.has(name)) {
      throw new UserError(`block '${name}' has both training branches and a deploy conv '${key}': a half-converted checkpoint`, {
        code: 'BAD_INPUT',
        hint: 'convert the original training checkpoint instead',
      });
    }
    const w = tensors.get(key)!;
    const shape = conv4d(key, w);
    const biasKey = join(name, `${spec.deploy}.bias`);
    deploy.push({ name, weight: key, bias: tensors.has(biasKey) ? biasKey : undefined, outChannels: shape[0], inPerGroup: shape[1], kernel: [shape[2], shape[3]] });
  }
  return { train, deploy };
}

/** The innermost training block a key belongs to, with its branch role and the rest of the key. */
function ownerOf(key: string, roles: readonly [BranchRole, string][], blocks: ReadonlySet<string>): { block: string; role: BranchRole; rest: string } | undefined {
  for (const [role, name] of roles) {
    for (let at = key.lastIndexOf(`${name}.`); at >= 0; at = at === 0 ? -1 : key.lastIndexOf(`${name}.`, at - 1)) {
      if (at > 0 && key[at - 1] !== '.') continue;
      const block = at === 0 ? '' : key.slice(0, at - 1);
      if (blocks.has(block)) return { block, role, rest: key.slice(at + name.length + 1) };
    }
  }
  return undefined;
}

function parseTrainBlock(
  name: string,
  keys: readonly string[],
  parts: ReadonlyMap<BranchRole, ReadonlyMap<string, string>>,
  tensors: ReadonlyMap<string, Tensor>,
  spec: SchemeSpec,
): TrainBlock {
  const dense = parseConvBranch(name, 'dense', spec.dense, parts.get('dense')!, tensors, spec);
  const oneByOne = parts.has('oneByOne') ? parseConvBranch(name, 'oneByOne', spec.oneByOne, parts.get('oneByOne')!, tensors, spec) : undefined;
  const [out, inPerGroup, kh, kw] = tensors.get(dense.weight)!.shape;
  if (kh % 2 === 0 || kw % 2 === 0) {
    throw new UserError(`'${dense.weight}' is a ${kh}x${kw} kernel: only odd kernels have a centre to merge into`, { code: 'UNSUPPORTED' });
  }
  if (oneByOne) {
    const s = tensors.get(oneByOne.weight)!.shape;
    if (s[0] !== out || s[1] !== inPerGroup) {
      throw new UserError(`'${oneByOne.weight}' has shape [${s}] but '${dense.weight}' has [${out}, ${inPerGroup}, …]: the branches do not add up`, { code: 'BAD_INPUT' });
    }
    if (s[2] > kh || s[3] > kw || (kh - s[2]) % 2 || (kw - s[3]) % 2) {
      throw new UserError(`'${oneByOne.weight}' (${s[2]}x${s[3]}) does not centre inside the ${kh}x${kw} dense kernel`, { code: 'UNSUPPORTED' });
    }
  }
  let identity: IdentityBranch | undefined;
  let groups: number | undefined;
  if (parts.has('identity')) {
    const prefix = join(name, spec.identity);
    const bn = parseBn(prefix, parts.get('identity')!, (rest) => `'${join(prefix, rest)}' is not a BatchNorm entry of the identity branch`);
    if (!bn) throw new UserError(`identity branch '${prefix}' has no running statistics`, { code: 'BAD_INPUT' });
    identity = { role: 'identity', prefix, bn };
    // An identity branch means in == out, so the groups follow from the weight's in/groups.
    if (out % inPerGroup !== 0) {
      throw new UserError(`block '${name}' has an identity branch but ${out} output channels do not split into groups of ${inPerGroup} inputs ('${dense.weight}')`, { code: 'BAD_INPUT' });
    }
    groups = out / inPerGroup;
  }
  for (const branch of [dense, oneByOne, identity]) {
    if (!branch) continue;
    const bn = branch.bn;
    for (const k of [bn?.weight, bn?.bias, bn?.mean, bn?.variance]) if (k) vector(k, tensors.get(k)!, out);
    if (branch.role !== 'identity' && branch.bias) vector(branch.bias, tensors.get(branch.bias)!, out);
  }
  return {
    name,
    dense,
    oneByOne,
    identity,
    keys,
    outChannels: out,
    inPerGroup,
    kernel: [kh, kw],
    groups,
    deploy: { weight: join(name, `${spec.deploy}.weight`), bias: join(name, `${spec.deploy}.bias`) },
  };
}

function parseConvBranch(
  block: string,
  role: 'dense' | 'oneByOne',
  branchName: string,
  rests: ReadonlyMap<string, string>,
  tensors: ReadonlyMap<string, Tensor>,
  spec: SchemeSpec,
): ConvBranch {
  const prefix = join(block, branchName);
  const bnRests = new Map<string, string>();
  let weight: string | undefined;
  let bias: string | undefined;
  for (const [rest, key] of rests) {
    if (rest === `${spec.conv}.weight`) weight = key;
    else if (rest === `${spec.conv}.bias`) bias = key;
    else if (rest.startsWith(`${spec.bn}.`)) bnRests.set(rest.slice(spec.bn.length + 1), key);
    else {
      throw new UserError(`'${key}' is not part of a ${spec.name} conv+BN branch (expected ${spec.conv}.weight, ${spec.bn}.running_var, …)`, {
        code: 'UNSUPPORTED',
        hint: rest === 'weight' ? 'a branch that is a bare conv (QARepVGG-style) is not supported' : undefined,
      });
    }
  }
  if (!weight) throw new UserError(`branch '${prefix}' has no conv weight '${join(prefix, `${spec.conv}.weight`)}'`, { code: 'BAD_INPUT' });
  const shape = conv4d(weight, tensors.get(weight)!);
  const bn = parseBn(join(prefix, spec.bn), bnRests, (rest) => `'${join(prefix, `${spec.bn}.${rest}`)}' is not a BatchNorm entry`);
  return { role, prefix, weight, bias, bn, kernel: [shape[2], shape[3]] };
}

function parseBn(prefix: string, rests: ReadonlyMap<string, string>, unknown: (rest: string) => string): BnKeys | undefined {
  if (rests.size === 0) return undefined;
  for (const rest of rests.keys()) if (!BN_LEAVES.has(rest)) throw new UserError(unknown(rest), { code: 'UNSUPPORTED' });
  const mean = rests.get('running_mean');
  const variance = rests.get('running_var');
  if (!mean || !variance) {
    throw new UserError(`BatchNorm '${prefix}' has no ${mean ? 'running_var' : 'running_mean'}: it was saved without running statistics`, { code: 'BAD_INPUT' });
  }
  return { weight: rests.get('weight'), bias: rests.get('bias'), mean, variance, count: rests.get('num_batches_tracked') };
}

function conv4d(key: string, t: Tensor): readonly number[] {
  if (t.shape.length !== 4 || t.shape.some((d) => d < 1)) {
    throw new UserError(`'${key}' has shape [${t.shape}], not a conv weight [out, in/groups, kh, kw]`, { code: 'BAD_INPUT' });
  }
  return t.shape;
}

function vector(key: string, t: Tensor, n: number): void {
  if (t.shape.length !== 1 || t.shape[0] !== n) {
    throw new UserError(`'${key}' has shape [${t.shape}], expected [${n}] (one value per output channel)`, { code: 'BAD_INPUT' });
  }
}
