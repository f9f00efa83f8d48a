// What a checkpoint conversion (or inspection) found and did, as data (cli/render.ts prints it).
import type { BlockReport } from '../reparam/report';
import { SchemeName } from './schemes';

/** A block as every path reports it (reparam/report.ts); checkpoints fill in the keys it is written under. */
export type { BlockReport } from '../reparam/report';

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
