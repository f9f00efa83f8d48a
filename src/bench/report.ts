// The benchmark report: one object, JSON-serialisable, times in milliseconds.
import type { DeviceInfo } from '../verify/device';
import type { EpName, Skipped } from '../verify/providers';
import type { Spread } from './stats';

export interface LatencyReport {
  readonly file: string;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly minMs: number;
  readonly meanMs: number;
  readonly maxMs: number;
  /** Inferences per second at the median latency: batch / p50. */
  readonly throughput: number;
  /** Session creation, untimed in the runs. */
  readonly loadMs: number;
  /** Every timed run, in order. */
  readonly timesMs: readonly number[];
}

export interface BenchReport {
  /** The provider both models ran on (what `auto` chose). */
  readonly ep: EpName;
  readonly device: DeviceInfo;
  /** Providers `auto` tried before `ep`, and why they could not run. */
  readonly skippedEps: readonly Skipped[];
  readonly runs: number;
  readonly warmup: number;
  readonly seed: number;
  /** Axis 0 of the first input: the images per inference, for throughput. */
  readonly batch: number;
  /** `candidateDtype` is set where the deploy model takes another float type than the train model. */
  readonly inputs: Readonly<Record<string, { readonly dtype: string; readonly candidateDtype?: string; readonly shape: readonly number[] }>>;
  readonly train: LatencyReport;
  readonly deploy: LatencyReport;
  /** train p50 / deploy p50: above 1 means the deploy model is faster. */
  readonly speedup: number;
  /** train / deploy time of each interleaved pair of runs, summarised: how much the speedup moves run to run. */
  readonly pairedSpeedup: Spread;
  readonly onnxruntime: string;
  readonly logicalCpus: number;
  readonly totalMs: number;
}
