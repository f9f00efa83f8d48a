// What `inspect` reports about a model, as data: the same shape for ONNX models and checkpoints.
import type { InputFormat } from '../formats/detect';
import type { GraphCost } from './cost';

/** train: branches to merge; deploy: nothing left to merge (an already converted model); mixed: some of each. */
export type ModelForm = 'train' | 'deploy' | 'mixed';

export interface BranchInfo {
  /** 'conv+bn', 'conv', 'bn', 'identity', or the op computing a summand that is not a branch ('Relu', …). */
  readonly kind: string;
  readonly kernel?: readonly [number, number];
}

export interface BlockInfo {
  readonly name: string;
  readonly branches: readonly BranchInfo[];
  /** The branches as text, e.g. "3x3 conv+bn, 1x1 conv+bn, bn". */
  readonly summary: string;
  /** [sh, sw]; null when the model does not say (a detector checkpoint). */
  readonly stride: readonly number[] | null;
  readonly groups: number | null;
  readonly identity: boolean;
  readonly se: boolean;
  /** Whether conversion turns the block into one conv (false for a block that already is one). */
  readonly merges: boolean;
  /** 'RepVGG 3-branch', 'RepVGG 2-branch', 'ACNet', 'k-branch'; 'already one conv' for a deploy-form block. */
  readonly kind?: string;
  /** Why the block is left as it is. */
  readonly reason?: string;
}

/** A Conv → BatchNormalization pair outside the merged blocks (a stem, a plain conv layer). */
export interface FoldInfo {
  readonly conv: string;
  readonly bn: string;
  readonly folds: boolean;
  readonly reason?: string;
}

export interface OnnxFacts {
  readonly irVersion: number;
  readonly opsets: readonly { readonly domain: string; readonly version: number }[];
  readonly producer: string;
  readonly producerVersion: string;
  readonly inputs: readonly { readonly name: string; readonly dims: readonly (number | string | null)[] | null }[];
  readonly outputs: readonly string[];
}

export interface CheckpointFacts {
  readonly scheme: string;
  readonly schemeFrom: 'detected' | 'forced';
  readonly bnEps: number;
  /** The published architecture the weights match; 'custom' for a RepVGG classifier that matches none; null when no architecture can be read. */
  readonly architecture: string | null;
  readonly architectureFrom?: 'matched' | 'forced';
  /** Why there is no architecture. */
  readonly architectureMissing?: string;
  readonly stages?: readonly { readonly name: string; readonly blocks: number; readonly width: number }[];
  readonly classes?: number;
  readonly tensors: number;
  readonly tensorsAfter: number;
  readonly dropped: readonly { readonly key: string; readonly reason: string }[];
  readonly passedThrough: number;
}

export type CountsInfo = GraphCost;

export interface InspectReport {
  readonly file: string;
  readonly format: InputFormat;
  readonly form: ModelForm;
  readonly onnx?: OnnxFacts;
  readonly checkpoint?: CheckpointFacts;
  /** The input shapes MACs were counted at, by input name; null when they are not known. */
  readonly inputShapes: Readonly<Record<string, readonly number[]>> | null;
  readonly blocks: readonly BlockInfo[];
  readonly folds: readonly FoldInfo[];
  /** Rewrites conversion would make, by kind. */
  readonly merged: Readonly<Record<string, number>>;
  /** Counted on the model as it is, and on its deploy form. */
  readonly before: CountsInfo | null;
  readonly after: CountsInfo | null;
  readonly warnings: readonly string[];
  readonly notes: readonly string[];
}

/** "3x3 conv+bn, 1x1 conv+bn, bn" */
export function summarizeBranches(branches: readonly BranchInfo[]): string {
  return branches.map((b) => (b.kernel ? `${b.kernel[0]}x${b.kernel[1]} ${b.kind}` : b.kind)).join(', ');
}

/** The kind of merge, named as the ONNX rules name it, from the conv kernels and the number of skips. */
export function mergeKind(kernels: readonly (readonly [number, number])[], skips: number): string {
  if (kernels.some(([h, w]) => h !== w)) return 'ACNet';
  const sizes = new Set(kernels.map(([h]) => h));
  if (kernels.length === 2 && sizes.size === 2 && sizes.has(1) && skips <= 1) return skips ? 'RepVGG 3-branch' : 'RepVGG 2-branch';
  return 'k-branch';
}
