// Default settings for verification, exported so the CLI's --help can state them.
// The tolerances come from measured train-vs-deploy errors; docs/verify.md has the numbers.

export const DEFAULT_SEED = 0;
export const DEFAULT_SAMPLES = 1;
/** Absolute tolerance for float32 outputs: 5x the largest error measured on a 27-block RepVGG-B1. */
export const DEFAULT_ATOL = 1e-4;
/** Relative tolerance (of |reference|); with the AND rule the allowance is 1e-4 * max(1, |reference|). */
export const DEFAULT_RTOL = 1e-4;
