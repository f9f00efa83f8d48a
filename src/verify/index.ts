// Equivalence verification: run a reference and a candidate ONNX model in onnxruntime-node on seeded
// random inputs and compare every output under an atol/rtol pass rule.
export { verifyModels } from './verify';
export type { VerifyOptions, VerifyProgress } from './verify';
export type { VerifyReport, OutputReport, Timings, Precision, PrecisionSource } from './report';
export { DEFAULT_ATOL, DEFAULT_ATOL_FP16, DEFAULT_RTOL, DEFAULT_RTOL_FP16, DEFAULT_SAMPLES, DEFAULT_SEED } from './defaults';
export { elementFails, ErrorAccumulator, ExceedanceCounter, REL_FLOOR } from './compare';
export type { OutputStats, Tolerance, ElementAt, Exceedance } from './compare';
export { EP_CHOICES, AUTO_ORDER, probeWebGpu, checkGpuProviderLibraries, providerLibraryDir } from './providers';
export type { EpChoice, EpName, WebGpuProbe } from './providers';
export type { DeviceInfo } from './device';
export { formatReport } from './format';
