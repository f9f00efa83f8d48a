// What `inspect` reports about a model, as data: the same shape for ONNX models and checkpoints.
import type { InputFormat } from '../formats/registry';
import type { GraphCost } from './cost';
import type { BlockReport, BranchInfo } from '../reparam/report';

/** train: branches to merge; deploy: nothing left to merge (an already converted model); mixed: some of each. */
export type ModelForm = 'train' | 'deploy' | 'mixed';

/** A block as every path reports it (reparam/report.ts). */
export type BlockInfo = BlockReport;
export type { BranchInfo };

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
