// Equivalence verification: run a reference and a candidate ONNX model in onnxruntime-node on seeded
// random inputs and compare every output under an atol/rtol pass rule.
import type { VerifyOptions } from './verify';
import type { VerifyReport } from './report';
export type { VerifyOptions, VerifyProgress } from './verify';
export type { VerifyReport, OutputReport, Timings, Precision, PrecisionSource } from './report';
export { DEFAULT_ATOL, DEFAULT_ATOL_FP16, DEFAULT_RTOL, DEFAULT_RTOL_FP16, DEFAULT_SAMPLES, DEFAULT_SEED } from './defaults';
export { elementFails, ErrorAccumulator, ExceedanceCounter, REL_FLOOR } from './compare';
export type { OutputStats, Tolerance, ElementAt, Exceedance } from './compare';
export { EP_CHOICES, AUTO_ORDER, probeWebGpu, checkGpuProviderLibraries, providerLibraryDir } from './providers';
export type { EpChoice, EpName, WebGpuProbe } from './providers';
export type { DeviceInfo } from './device';
export { formatReport } from './format';

/**
 * Runs `reference` on the CPU and `candidate` on `options.ep` on seeded random inputs and compares every
 * output (see ./verify). The checking code and onnxruntime load on the first call, so code that imports
 * this module but converts with --no-verify does not load them.
 */
export function verifyModels(reference: string, candidate: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  return (require('./verify') as typeof import('./verify')).verifyModels(reference, candidate, options);
}

/** Starts onnxruntime's process ahead of a check (ort-host.ts), loading it only then. */
export function prewarmCheck(): void {
  (require('./ort-host') as typeof import('./ort-host')).prewarmHost();
}
