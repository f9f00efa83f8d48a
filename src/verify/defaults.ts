// Default settings for verification, exported so the CLI's --help can state them.
// The tolerances come from measured train-vs-deploy errors; docs/verify.md has the numbers.

export const DEFAULT_SEED = 0;
export const DEFAULT_SAMPLES = 1;
/** Absolute tolerance for float32 outputs: 5x the largest error measured on a 27-block RepVGG-B1. */
export const DEFAULT_ATOL = 1e-4;
/** Relative tolerance (of |reference|); with the AND rule the allowance is 1e-4 * max(1, |reference|). */
export const DEFAULT_RTOL = 1e-4;
/**
 * Absolute tolerance for an FP16 candidate (float16 I/O or weights). Float16 arithmetic (WebGPU) put a
 * RepVGG-B1-shaped net's outputs up to 0.175 off; 0.25 passes that, and is 20x the error seen when
 * only the weights and I/O are float16 (the CPU provider computes in float32).
 */
export const DEFAULT_ATOL_FP16 = 0.25;
/** Relative tolerance for an FP16 candidate: large outputs were off by up to 3.7%. */
export const DEFAULT_RTOL_FP16 = 0.05;
