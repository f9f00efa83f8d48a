// The verification report: one object, JSON-serialisable, stable field names
// ({ok, ep, seed, samples, atol, rtol, outputs: {NAME: {...}}} plus context).
import type { DeviceInfo } from './device';
import type { InputDistribution } from './inputs';
import type { EpName, Skipped } from './providers';
import type { Exceedance, OutputStats } from './compare';
import type { SavedFiles } from './saved-files';

export type Precision = 'fp32' | 'fp16';
/** Where the precision came from: the caller, float16 in the candidate's interface, its weights, or none of these. */
export type PrecisionSource = 'option' | 'inputs-outputs' | 'weights' | 'default';

/** Error statistics are null when the output could not be compared (see `problem`). */
export type NullableStats = { readonly [K in keyof OutputStats]: OutputStats[K] | null };

export type OutputReport = {
  readonly ok: boolean;
  /** The reference's dtype. */
  readonly dtype: string;
  /** Set when the candidate's differs (float16 against float32): its values are compared as float32. */
  readonly candidateDtype?: string;
  readonly shape: readonly number[];
  /** Why the output was not compared, e.g. a shape or dtype mismatch. */
  readonly problem?: string;
  /** FP16 candidates only: the elements the FP32 default tolerances would fail, and by how much. */
  readonly fp32Exceed?: Exceedance;
} & (OutputStats | NullableStats);

export interface Timings {
  readonly loadReferenceMs: number;
  readonly loadCandidateMs: number;
  /** Sum over samples. */
  readonly runReferenceMs: number;
  readonly runCandidateMs: number;
  readonly compareMs: number;
  readonly totalMs: number;
}

/** A value compared inside the models: its name, the deploy node that makes it, and its numbers. */
export type BlockReport = OutputReport & { readonly value: string; readonly node: string; readonly opType: string };

export interface VerifyReport {
  readonly ok: boolean;
  /** The provider the candidate ran on (what `auto` chose). */
  readonly ep: EpName;
  readonly device: DeviceInfo;
  readonly referenceEp: 'cpu';
  /** Providers `auto` tried before `ep`, and why they could not run. */
  readonly skippedEps: readonly Skipped[];
  /** Why the candidate ran on `ep`: the provider asked for, or what `auto` (the default) found. */
  readonly epReason: string;
  /** Where the inputs came from: seeded random draws, or these files (in the order given). */
  readonly inputsFrom: 'random' | readonly string[];
  /** Random inputs only. */
  readonly seed?: number;
  readonly samples: number;
  readonly precision: Precision;
  readonly precisionSource: PrecisionSource;
  /** The tolerances applied (the caller's, else the defaults for `precision`). */
  readonly atol: number;
  readonly rtol: number;
  /** Random inputs only. */
  readonly inputDistribution?: InputDistribution;
  /** How input files were read where it matters, e.g. float64 rounded to float32. */
  readonly inputNotes?: readonly string[];
  /** `candidateDtype` is set where the candidate takes another float type than the reference. */
  readonly inputs: Readonly<Record<string, { readonly dtype: string; readonly candidateDtype?: string; readonly shape: readonly number[] }>>;
  readonly outputs: Readonly<Record<string, OutputReport>>;
  /**
   * With perBlock, or after a failure: each value both graphs share at a block's end, in the deploy
   * graph's order, compared like an output (the verdict stays the outputs').
   */
  readonly blocks?: readonly BlockReport[];
  /**
   * Checked block by block from the weights (a checkpoint with no whole architecture): each output is one
   * block's branches against its merged conv, on a small input of its own.
   */
  readonly blockwise?: true;
  /** The first of `blocks` that differs beyond the tolerances: where the deploy model starts to go wrong. */
  readonly firstDifference?: BlockReport;
  /** Reasons the pair is not equal beyond element errors: different inputs, missing outputs, ... */
  readonly problems: readonly string[];
  /** The files saveInputs and saveResults asked for, once written. */
  readonly saved?: SavedFiles;
  readonly reference: string;
  readonly candidate: string;
  readonly onnxruntime: string;
  readonly timings: Timings;
}
