// What a checkpoint conversion (or inspection) found and did, as data (cli/render.ts prints it).
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
