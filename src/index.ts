// repvgg-convert as a library: typed async functions that return data, with progress as events and
// errors as typed classes (UserError: bad input or usage; CheckFailedError: verification failed).
// Every option is checked at run time too, so JavaScript callers get the same errors as the CLI.
export { convert, ConversionCheckFailed, trtPaths } from './api/convert';
export type { ConvertOptions, ConvertResult, TrtResult } from './api/convert';
export { verify } from './api/verify';
export type { VerifyPairOptions, VerifyPairReport } from './api/verify';
export { inspect } from './api/inspect';
export type { InspectFileOptions } from './api/inspect';
export type { InspectOptions, InspectReport, BlockInfo, BranchInfo, FoldInfo, ModelForm, OnnxFacts, CheckpointFacts, GraphCost } from './inspect';
export { bench } from './api/bench';
export type { BenchPairOptions } from './api/bench';
export type { BenchReport, LatencyReport, Spread } from './bench';
export { readModel, writeModel } from './api/model-io';
export type { LoadedModel } from './api/model-io';
export type { ConvertEvent, EventSink, Phase, ProgressUnit } from './api/events';
export { UserError, FormatError, CheckFailedError } from './errors';
export type { ErrorCode } from './errors';
export { DEFAULT_ATOL, DEFAULT_ATOL_FP16, DEFAULT_RTOL, DEFAULT_RTOL_FP16, DEFAULT_SAMPLES, DEFAULT_SEED } from './verify';
export type { VerifyOptions, VerifyReport, OutputReport, Precision } from './verify';
export type { EpChoice } from './verify/ep-choices';
export type { ReparamReport } from './rules/pipeline';
export type { CheckpointReport, Architecture, SchemeName } from './checkpoint';
export type { Tensor } from './tensor';
export type { DType } from './dtype';
export { packageVersion as version } from './version';
