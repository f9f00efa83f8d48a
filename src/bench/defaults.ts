// Default settings for benchmarking, exported so the CLI's --help can state them.

/** Timed runs per model. Enough for a stable p50 and a rough p90 on a quiet machine. */
export const DEFAULT_RUNS = 20;
/** Untimed runs per model first: the first runs allocate buffers, pick kernels and (WebGPU) compile shaders. */
export const DEFAULT_WARMUP = 3;
export const DEFAULT_BENCH_SEED = 0;
