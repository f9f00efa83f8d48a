// CI gates on what a conversion merged: `--expect-merged N` (exactly N blocks merged) and
// `--fail-if-unmerged` (at least one block merged, and no block, BatchNormalization or training-mode
// export left behind). A gate that does not hold fails the run like a failed check (exit 1), and
// nothing is written: a pipeline that expects a deploy model does not get the training one back.
import { CheckFailedError } from '../errors';
import type { CheckpointReport } from '../checkpoint';
import type { ReparamReport } from '../rules/pipeline';

export interface GateOptions {
  readonly expectMerged?: number;
  readonly failIfUnmerged?: boolean;
}

/** What the gates look at: blocks merged, and what was left that a deploy model should not have. */
export interface MergeCount {
  readonly merged: number;
  /** Why each site left behind is one: "Add /x: dilations differ", "2 BatchNormalization nodes". */
  readonly left: readonly string[];
}

export function onnxMergeCount(r: ReparamReport): MergeCount {
  const merged = Object.entries(r.merged).reduce((n, [kind, k]) => (kind === 'Conv+BN fold' ? n : n + k), 0);
  const left = r.refusals.filter((f) => f.block).map((f) => `${f.where}: ${f.reason}`);
  const bn = r.opsAfter.BatchNormalization ?? 0;
  if (bn > 0) left.push(`${bn} BatchNormalization node${bn === 1 ? '' : 's'} left${r.warnings.some((w) => /training_mode=1/.test(w)) ? ' (the model was exported in training mode)' : ''}`);
  return { merged, left };
}

export function checkpointMergeCount(r: CheckpointReport): MergeCount {
  return { merged: r.blocks.length, left: [] };
}

export class GateFailed extends CheckFailedError {
  constructor(message: string) {
    super(message);
    this.name = 'GateFailed';
  }
}

/** Throws GateFailed naming what does not hold; `count` is undefined when nothing could be counted. */
export function checkGates(gates: GateOptions, count: MergeCount): void {
  const problems: string[] = [];
  if (gates.expectMerged !== undefined && count.merged !== gates.expectMerged) {
    problems.push(`${count.merged} block${count.merged === 1 ? ' was' : 's were'} merged, where --expect-merged says ${gates.expectMerged}`);
  }
  if (gates.failIfUnmerged) {
    if (count.merged === 0) problems.push('nothing was merged: the model has no block with branches (already in deploy form?)');
    if (count.left.length) problems.push(`left unmerged: ${count.left.slice(0, 5).join('; ')}${count.left.length > 5 ? `; and ${count.left.length - 5} more` : ''}`);
  }
  if (problems.length) throw new GateFailed(`${problems.join('; ')}; no output was written`);
}
