// Checkpoint conversion: a training state dict in, deploy weights (safetensors, .pth, .wts) or a deploy
// ONNX out. Verification builds the train-time and deploy ONNX graphs from the weights and runs both.
import * as path from 'path';
import { Architecture, CheckpointReport, SchemeName, buildDeployOnnx, convertStateDict, inferArchitecture, inspectCheckpoint } from '../checkpoint';
import { StateDict } from '../formats/state-dict';
import { OnnxModel } from '../formats/onnx/read';
import { CLASSIFIER_SCHEMES } from '../checkpoint/schemes';
import { assertFiniteTensor } from '../reparam/values';
import { UserError } from '../errors';
import { InputFormat, OutputFormat, readWeights, stageWeights } from '../formats/registry';
import { StagedFile } from '../formats/atomic-file';
import { CheckFolder } from '../verify/check-folder';
import { stageOnnx } from '../formats/onnx/write';
import { Tensor } from '../tensor';
import { VerifyOptions, VerifyReport, prewarmCheck } from '../verify';
import { EventSink, bytesProgress, phase } from './events';
import { checkBlocksFromWeights, checkWeightsPair } from './check-weights';

export interface CheckpointOptions {
  readonly scheme?: SchemeName;
  readonly arch?: string;
  readonly bnEps?: number;
  /** [N, C, H, W] for ONNX built from the weights. Default 1x3x224x224. */
  readonly inputShape?: readonly number[];
  readonly opset?: number;
  /** Top-level entry of a .pth to take (e.g. 'model'), instead of the automatic choice. */
  readonly entry?: string;
  /** ONNX output: weights in a data file beside the model. */
  readonly externalData?: boolean;
  /** A last pass over a deploy ONNX built from the weights (e.g. TensorRT shaping). */
  readonly onnxPass?: (m: OnnxModel) => void;
  /** The placeholder of the output's stamp (stamp.ts), filled in once the check has run. */
  readonly stamp?: string;
}

export interface CheckpointResult {
  readonly report: CheckpointReport;
  readonly architecture?: Architecture;
  readonly verify?: VerifyReport;
  /** Why verification did not run although it was asked for. */
  readonly verifySkipped?: string;
  readonly bytesWritten: number;
  readonly staged: StagedFile<number>;
  /** Recorded in a safetensors output's __metadata__. */
  readonly metadata?: Readonly<Record<string, string>>;
  readonly timings: Readonly<Record<string, number>>;
}

export async function convertCheckpoint(
  input: string,
  output: string,
  formats: { input: InputFormat; output: OutputFormat },
  options: CheckpointOptions & { verify: boolean; verifyOptions?: Omit<VerifyOptions, 'onProgress'> },
  emit: EventSink,
): Promise<CheckpointResult> {
  const read = await phase(emit, 'read', () => readWeights(input, formats.input, { entry: options.entry }), input);
  const sd = read.value;
  // The tensors are file ranges until written and verified; the file closes when both are done.
  try {
    if (formats.output === 'onnx' && inspectCheckpoint(sd, { scheme: options.scheme, bnEps: options.bnEps }).form === 'deploy') {
      return await deployCheckpointToOnnx(sd, output, options, emit, read.ms);
    }
    const merge = await phase(emit, 'merge', () => convertStateDict(sd, { scheme: options.scheme, bnEps: options.bnEps }));
    const { tensors, report } = merge.value;
    for (const n of report.notes) emit({ type: 'warning', message: n });
    const classifier = CLASSIFIER_SCHEMES.includes(report.scheme);
    const needArch = formats.output === 'onnx' || (options.verify && classifier);
    const architecture = needArch ? inferArchitecture(sd, { arch: options.arch, scheme: report.scheme }) : undefined;
    if (formats.output === 'onnx' && !architecture) {
      throw new UserError(`an ONNX graph cannot be built from ${report.scheme} weights`, { code: 'UNSUPPORTED', hint: 'export the ONNX from the training code and convert that instead' });
    }
    const build = { inputShape: options.inputShape, opset: options.opset };
    const metadata = {
      format: 'pt',
      'repvgg-convert.scheme': report.scheme,
      'repvgg-convert.source': path.basename(input),
      ...(architecture ? { 'repvgg-convert.arch': architecture.name ?? 'custom' } : {}),
    };
    const write = await phase(
      emit,
      'write',
      () => stageOutput(output, formats.output, tensors, metadata, { arch: architecture, build, onnxPass: options.onnxPass, externalData: options.externalData, notReadBack: !options.verify, onProgress: bytesProgress(emit, 'write'), stamp: options.stamp }),
      output,
    );
    const staged = write.value;
    // Written, so every weight was read and found finite: onnxruntime's process starts while the check is set up.
    if (options.verify) prewarmCheck();
    let verify: VerifyReport | undefined;
    let verifySkipped: string | undefined;
    let verifyMs = 0;
    try {
      if (options.verify) {
        const candidate = { file: staged.tmp, format: formats.output, expected: tensors };
        const v = await phase(emit, 'verify', async () => {
          const folder = CheckFolder.beside(output);
          try {
            // Without a whole architecture (a detector's blocks), each block is checked on its own.
            return architecture
              ? await checkWeightsPair({ train: sd, arch: architecture, build: { ...build, bnEps: report.bnEps }, candidate }, folder, options.verifyOptions, emit)
              : await checkBlocksFromWeights({ train: sd, scheme: report.scheme, bnEps: report.bnEps, candidate }, folder, options.verifyOptions, emit);
          } finally {
            folder.remove();
          }
        });
        verify = { ...v.value, reference: `${input} (${architecture ? 'training graph built from the weights' : 'each block built from the weights'})`, candidate: output };
        verifyMs = v.ms;
      }
    } catch (e) {
      staged.abort();
      throw e;
    }
    return { report, architecture, verify, verifySkipped, bytesWritten: staged.result, staged, metadata, timings: { readMs: read.ms, mergeMs: merge.ms, writeMs: write.ms, verifyMs } };
  } finally {
    sd.close?.();
  }
}

/** A checkpoint already in deploy form becomes a deploy ONNX as it is; there is no training graph to compare. */
async function deployCheckpointToOnnx(sd: StateDict, output: string, options: CheckpointOptions, emit: EventSink, readMs: number): Promise<CheckpointResult> {
  const report = inspectCheckpoint(sd, { scheme: options.scheme, bnEps: options.bnEps });
  const architecture = inferArchitecture(sd, { arch: options.arch, scheme: report.scheme });
  // Every weight passes through as it is.
  for (const [key, t] of sd.tensors) assertFiniteTensor(key, t);
  const model = buildDeployOnnx(architecture, sd.tensors, { inputShape: options.inputShape, opset: options.opset });
  options.onnxPass?.(model);
  // A TensorRT build reads the file back: it stays in the page cache.
  const write = await phase(emit, 'write', () => stageOnnx(output, model, { externalData: options.externalData, direct: !options.onnxPass, stamp: options.stamp, onProgress: bytesProgress(emit, 'write') }), output);
  const staged = { ...write.value, result: write.value.result.bytes };
  return {
    report,
    architecture,
    verifySkipped: 'the checkpoint is already in deploy form, so there is no training graph to compare with',
    bytesWritten: staged.result,
    staged,
    timings: { readMs, mergeMs: 0, writeMs: write.ms, verifyMs: 0 },
  };
}


interface StageOutputOptions {
  readonly arch?: Architecture;
  readonly build: { inputShape?: readonly number[]; opset?: number };
  readonly onnxPass?: (m: OnnxModel) => void;
  readonly externalData?: boolean;
  /** False when this run reads the output back (the check): it then stays in the page cache. */
  readonly notReadBack: boolean;
  readonly onProgress: (written: number, total: number | undefined) => void;
  readonly stamp?: string;
}

function stageOutput(output: string, format: OutputFormat, tensors: ReadonlyMap<string, Tensor>, metadata: Record<string, string>, o: StageOutputOptions): StagedFile<number> {
  // Read back by the check, the staged file syncs meanwhile (commit waits for it).
  if (format !== 'onnx') return stageWeights(output, format, tensors, metadata, { onProgress: o.onProgress, direct: o.notReadBack, syncLater: !o.notReadBack, stamp: o.stamp });
  const model = buildDeployOnnx(o.arch!, tensors, o.build);
  o.onnxPass?.(model);
  // Verification and a TensorRT build read the ONNX back: then it stays in the page cache.
  const s = stageOnnx(output, model, { externalData: o.externalData, direct: o.notReadBack && !o.onnxPass, syncLater: !o.notReadBack, stamp: o.stamp, onProgress: o.onProgress });
  return { ...s, result: s.result.bytes };
}

