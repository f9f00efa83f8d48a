// The verification report: one object, JSON-serialisable, stable field names
// ({ok, ep, seed, samples, atol, rtol, outputs: {NAME: {...}}} plus context).
import type { DeviceInfo } from './device';
import type { InputDistribution } from './inputs';
import type { EpName, Skipped } from './providers';
import type { OutputStats } from './compare';

/** Error statistics are null when the output could not be compared (see `problem`). */
export type NullableStats = { readonly [K in keyof OutputStats]: OutputStats[K] | null };

export type OutputReport = {
  readonly ok: boolean;
  readonly dtype: string;
  readonly shape: readonly number[];
  /** Why the output was not compared, e.g. a shape or dtype mismatch. */
  readonly problem?: string;
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

export interface VerifyReport {
  readonly ok: boolean;
  /** The provider the candidate ran on (what `auto` chose). */
  readonly ep: EpName;
  readonly device: DeviceInfo;
  readonly referenceEp: 'cpu';
  /** Providers `auto` tried before `ep`, and why they could not run. */
  readonly skippedEps: readonly Skipped[];
  readonly seed: number;
  readonly samples: number;
  readonly atol: number;
  readonly rtol: number;
  readonly inputDistribution: InputDistribution;
  readonly inputs: Readonly<Record<string, { readonly dtype: string; readonly shape: readonly number[] }>>;
  readonly outputs: Readonly<Record<string, OutputReport>>;
  /** Reasons the pair is not equal beyond element errors: different inputs, missing outputs, ... */
  readonly problems: readonly string[];
  readonly reference: string;
  readonly candidate: string;
  readonly onnxruntime: string;
  readonly timings: Timings;
}
