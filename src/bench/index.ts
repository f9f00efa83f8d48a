// Benchmarking: time a train model and its deploy model, interleaved, on one execution provider.
export { benchModels } from './bench';
export type { BenchOptions, BenchProgress } from './bench';
export type { BenchReport, LatencyReport } from './report';
export type { Spread } from './stats';
export { quantile } from './stats';
export { DEFAULT_BENCH_SEED, DEFAULT_RUNS, DEFAULT_WARMUP } from './defaults';
export { formatBenchReport } from './format';
