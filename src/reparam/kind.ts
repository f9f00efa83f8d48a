// The one namer of blocks and branches, for reports: the kind of a merge ('RepVGG 3-branch', 'ACNet',
// 'DBB', …) and each branch as text ('3x3 conv+bn', '1x1 conv+bn → 3x3 conv+bn', 'bn', 'identity').
// ONNX conversion, checkpoint conversion and inspect all name through here, so they agree.
import { Block, Branch, ConvStep, Step, isConst, isPerChannel } from './block';

/** A branch for reports: its steps named, and the kernel of a branch that is one conv. */
export interface BranchInfo {
  /** 'conv+bn', 'conv', 'bn', 'identity', 'constant', a chain ('1x1 conv+bn → 3x3 conv+bn'), or the op computing a summand that is not a branch ('Relu', …). */
  readonly kind: string;
  readonly kernel?: readonly [number, number];
}

/** "3x3 conv+bn, 1x1 conv+bn, bn" */
export function summarizeBranches(branches: readonly BranchInfo[]): string {
  return branches.map((b) => (b.kernel ? `${b.kernel[0]}x${b.kernel[1]} ${b.kind}` : b.kind)).join(', ');
}

const kernelOf = (s: ConvStep): [number, number] => [s.weight.tensor.shape[2], s.weight.tensor.shape[3]];

/** Per-channel steps as a suffix: '+bn', '+scale'. */
function suffix(steps: readonly Step[]): string {
  return steps.map((s) => (s.op === 'bn' ? '+bn' : '+scale')).join('');
}

export function describeBranch(b: Branch): BranchInfo {
  const steps = b.steps;
  if (isConst(b)) return { kind: 'constant' };
  if (steps.length === 0) return { kind: 'identity' };
  if (steps.every(isPerChannel)) return { kind: steps.length === 1 && steps[0].op === 'bn' ? 'bn' : suffix(steps).slice(1) };
  const first = steps[0];
  if (first.op === 'conv' && !first.plusIdentity && steps.slice(1).every(isPerChannel)) return { kind: `conv${suffix(steps.slice(1))}`, kernel: kernelOf(first) };
  // A chain: each conv or pool with the per-channel steps after it; pads and crops by name.
  const parts: string[] = [];
  for (let i = 0; i < steps.length; i++) {
    const s = steps[i];
    if (isPerChannel(s)) {
      if (parts.length === 0) parts.push(suffix([s]).slice(1));
      else parts[parts.length - 1] += suffix([s]);
      continue;
    }
    if (s.op === 'conv') parts.push(`${kernelOf(s).join('x')} ${s.plusIdentity ? 'conv(+identity)' : 'conv'}`);
    else if (s.op === 'avgpool') parts.push(`${s.kernel.join('x')} avgpool`);
    else if (s.op === 'pad') parts.push(s.pads.some((p) => p < 0) ? (s.pads.some((p) => p > 0) ? 'pad/crop' : 'crop') : 'pad');
  }
  return { kind: parts.join(' → ') };
}

/** The kind of a merge, named from its branches. */
export function blockKind(block: Block): string {
  const live = block.branches.filter((b) => !isConst(b));
  const convs = live.flatMap((b) => b.steps.filter((s): s is ConvStep => s.op === 'conv'));
  if (live.length === 1 && block.post.length === 0) {
    const s = live[0].steps;
    if (s.length >= 1 && s[0].op === 'conv' && s.slice(1).every(isPerChannel)) return s.some((x) => x.op === 'bn') ? 'Conv+BN fold' : 'Conv fold';
  }
  if (live.some((b) => b.steps.filter((s) => s.op === 'conv' || s.op === 'avgpool').length > 1 || b.steps.some((s) => s.op === 'conv' && s.plusIdentity))) return 'DBB';
  if (block.post.length) return 'QARepVGG';
  if (convs.some((c) => kernelOf(c)[0] !== kernelOf(c)[1])) return 'ACNet';
  const convBranches = live.filter((b) => b.steps.some((s) => s.op === 'conv'));
  const skips = live.length - convBranches.length;
  const sizes = new Set(convs.map((c) => kernelOf(c)[0]));
  const big = Math.max(...sizes);
  if (convs.length === 2 && convBranches.length === 2 && sizes.size === 2 && sizes.has(1) && big > 1 && skips <= 1) return skips ? 'RepVGG 3-branch' : 'RepVGG 2-branch';
  return 'k-branch';
}
