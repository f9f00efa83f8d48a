// The one report of a block, for every path: what it is (its branches), whether it merges and into
// what, or why not. ONNX conversion, checkpoint conversion and inspect fill it with the same code.
import { Block, isConst } from './block';
import { Geometry } from './geometry';
import { BranchInfo, blockKind, describeBranch, summarizeBranches } from './kind';

export type { BranchInfo } from './kind';

export interface BlockReport {
  readonly name: string;
  readonly branches: readonly BranchInfo[];
  /** The branches as text, e.g. "3x3 conv+bn, 1x1 conv+bn, bn". */
  readonly summary: string;
  /** [sh, sw]; null when the model does not say (strides are not in a checkpoint's weights). */
  readonly stride: readonly number[] | null;
  readonly groups: number | null;
  /** A branch that is x itself, or x through per-channel steps only. */
  readonly identity: boolean;
  /** A squeeze-and-excitation module scales the block's output. */
  readonly se: boolean;
  /** Whether conversion turns the block into one conv (false for a block that already is one). */
  readonly merges: boolean;
  /** The kind of merge ('RepVGG 3-branch', 'ACNet', 'DBB', 'k-branch', …); 'already one conv' for a deploy-form block. */
  readonly kind?: string;
  /** Why the block is left as it is. */
  readonly reason?: string;
  /** Checkpoints: the keys the merged conv is written under. */
  readonly deploy?: { readonly weight: string; readonly bias: string };
  readonly outChannels?: number;
  /** Checkpoints: in_channels / groups, when the groups are not known. */
  readonly inPerGroup?: number;
}

/** Branch descriptions and the identity flag of a block. */
export function branchFacts(block: Block): { branches: BranchInfo[]; summary: string; identity: boolean } {
  const branches = block.branches.map(describeBranch);
  const identity = block.branches.some((b) => !isConst(b) && b.steps.every((s) => s.op === 'bn' || s.op === 'affine'));
  return { branches, summary: summarizeBranches(branches), identity };
}

/** A block that merges: kind from the namer, stride and groups from the validator. */
export function mergingReport(
  block: Block,
  g: Geometry,
  extra: { name?: string; se?: boolean; stride?: readonly number[] | null; groups?: number | null; deploy?: BlockReport['deploy']; inPerGroup?: number } = {},
): BlockReport {
  return {
    name: extra.name ?? block.name,
    ...branchFacts(block),
    stride: extra.stride === undefined ? [...g.stride] : extra.stride,
    groups: extra.groups === undefined ? g.group : extra.groups,
    ...(extra.inPerGroup !== undefined ? { inPerGroup: extra.inPerGroup } : {}),
    se: extra.se ?? false,
    merges: true,
    kind: blockKind(block),
    ...(extra.deploy ? { deploy: extra.deploy } : {}),
    outChannels: g.channelsOut,
  };
}

/** A block that already is one conv (a deploy-form block). */
export function singleConvReport(name: string, kernel: readonly [number, number] | undefined, extra: { stride?: readonly number[] | null; groups?: number | null; se?: boolean } = {}): BlockReport {
  const branches: BranchInfo[] = [{ kind: 'conv', ...(kernel ? { kernel } : {}) }];
  return { name, branches, summary: summarizeBranches(branches), stride: extra.stride ?? null, groups: extra.groups ?? null, identity: false, se: extra.se ?? false, merges: false, kind: 'already one conv' };
}
