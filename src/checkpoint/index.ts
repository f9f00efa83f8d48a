// Checkpoint (state dict) conversion: key schemes, branch merging, architecture inference, ONNX from weights.
export { SCHEME_NAMES, SCHEMES, CLASSIFIER_SCHEMES, detectScheme, parseSchemeName, schemeSpec } from './schemes';
export type { SchemeName, SchemeSpec, SeLayout, BranchRecipe, StepRecipe } from './schemes';
export { convertStateDict, inspectCheckpoint } from './convert';
export type { ConvertOptions, Conversion } from './convert';
export type { CheckpointReport, BlockReport, DroppedKey } from './report';
export { scanBlocks } from './blocks';
export type { TrainBlock, DeployBlock, BlockScan } from './blocks';
export { inferArchitecture } from './architecture';
export type { Architecture, ArchBlock, ArchSe, ArchStage, ArchHead, InferOptions } from './architecture';
export { OFFICIAL_ARCHS, findOfficialArch, expectedStages } from './official-archs';
export type { OfficialArch, BlockShape } from './official-archs';
export { buildTrainOnnx, buildDeployOnnx, buildBlockPair, DEFAULT_INPUT_SHAPE, DEFAULT_OPSET } from './build-onnx';
export type { OnnxBuildOptions, TrainOnnxOptions } from './build-onnx';
