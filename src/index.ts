// repvgg-convert as a library: typed async functions that return data, with progress as events and
// errors as typed classes (UserError: bad input or usage; CheckFailedError: verification failed).
export { convert, ConversionCheckFailed, trtPaths } from './api/convert';
export type { ConvertOptions, ConvertResult, TrtResult } from './api/convert';
export { verify } from './api/verify';
export type { VerifyPairOptions, VerifyPairReport } from './api/verify';
export { readModel, writeModel } from './api/model-io';
export type { LoadedModel } from './api/model-io';
export type { ConvertEvent, EventSink, Phase } from './api/events';
export { UserError, FormatError, CheckFailedError } from './errors';
export type { ErrorCode } from './errors';
export { DEFAULT_ATOL, DEFAULT_RTOL, DEFAULT_SAMPLES, DEFAULT_SEED } from './verify';
export type { VerifyOptions, VerifyReport, OutputReport } from './verify';
export type { ReparamReport } from './rules/pipeline';
export type { CheckpointReport, Architecture, SchemeName } from './checkpoint';
export type { Tensor } from './tensor';
export type { DType } from './dtype';
