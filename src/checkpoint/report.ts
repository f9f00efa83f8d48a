// What a checkpoint conversion (or inspection) found and did, as data, plus a plain-text rendering.
import { SchemeName } from './schemes';

export interface BranchReport {
  readonly role: 'dense' | 'oneByOne' | 'identity';
  /** 'conv+bn', 'conv' (no BN: the conv bias carries it), or 'bn' (identity through a BatchNorm). */
  readonly kind: 'conv+bn' | 'conv' | 'bn';
  readonly prefix: string;
  /** [kh, kw] for conv branches. */
  readonly kernel?: readonly [number, number];
}

export interface BlockReport {
  readonly name: string;
  readonly branches: readonly BranchReport[];
  readonly outChannels: number;
  readonly inPerGroup: number;
  /** Set when the weights decide it: from the identity branch (in = out) or the previous block's width. */
  readonly groups?: number;
  readonly groupsFrom?: 'identity' | 'previous block';
  readonly identity: boolean;
  readonly se: boolean;
  /** Keys of the merged conv in the deploy form. */
  readonly deploy: { readonly weight: string; readonly bias: string };
}

export interface DroppedKey {
  readonly key: string;
  readonly reason: string;
}

export interface CheckpointReport {
  readonly scheme: SchemeName;
  readonly schemeFrom: 'detected' | 'forced';
  /** train: every block has branches; deploy: every block is one conv already; mixed: both. */
  readonly form: 'train' | 'deploy' | 'mixed';
  readonly bnEps: number;
  readonly blocks: readonly BlockReport[];
  /** Blocks that are already a single conv (deploy form). */
  readonly deployBlocks: readonly string[];
  readonly dropped: readonly DroppedKey[];
  /** Keys copied unchanged (heads, necks, SE, non-RepVGG layers). */
  readonly passedThrough: number;
  readonly tensorsIn: number;
  readonly tensorsOut: number;
  readonly notes: readonly string[];
}

export function formatCheckpointReport(r: CheckpointReport): string {
  const lines: string[] = [];
  lines.push(`scheme: ${r.scheme} (${r.schemeFrom})  form: ${r.form}  BN eps: ${r.bnEps}`);
  lines.push(`tensors: ${r.tensorsIn} in, ${r.tensorsOut} out; ${r.blocks.length} blocks merged, ${r.passedThrough} keys passed through, ${r.dropped.length} dropped`);
  for (const b of r.blocks) {
    const branches = b.branches.map((x) => (x.kernel ? `${x.kind} ${x.kernel[0]}x${x.kernel[1]}` : x.kind)).join(' + ');
    const groups = b.groups === undefined ? `in/groups ${b.inPerGroup}` : `groups ${b.groups}`;
    lines.push(`  ${b.name || '(root)'}: ${branches} → ${b.deploy.weight}  [out ${b.outChannels}, ${groups}${b.identity ? ', identity' : ''}${b.se ? ', SE' : ''}]`);
  }
  if (r.deployBlocks.length) lines.push(`already single convs: ${r.deployBlocks.join(', ')}`);
  const reasons = new Map<string, number>();
  for (const d of r.dropped) reasons.set(d.reason, (reasons.get(d.reason) ?? 0) + 1);
  for (const [reason, n] of reasons) lines.push(`dropped ${n} key${n === 1 ? '' : 's'}: ${reason}`);
  for (const n of r.notes) lines.push(`note: ${n}`);
  return lines.join('\n');
}
