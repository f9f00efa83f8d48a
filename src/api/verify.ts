// verify(): the equivalence check as a library call, for any pair the converter makes: a training ONNX
// against a deploy ONNX, or a training checkpoint against deploy weights (.safetensors, .pth, .wts) or a
// deploy ONNX, the graphs then built from the weights. With `compareEps`, a GPU check also runs the other
// combinations, so a difference can be pinned on the conversion or on the provider.
import * as path from 'path';
import type { SchemeName } from '../checkpoint/schemes';
import { UserError } from '../errors';
import { FORMATS, FormatName, detectInputFormat, readWeights, requireFile } from '../formats/registry';
import { removeStaleStaging } from '../formats/stale-staging';
import { CheckFolder } from '../verify/check-folder';
import { checkOptions } from '../options';
import { VerifyOptions, VerifyProgress, VerifyReport, verifyModels } from '../verify';
import { EventSink } from './events';
import { checkpointInputShape, resolveInputShapes } from './model-info';
import { VERIFY_PAIR_OPTION_KINDS } from './option-kinds';
import { ignoredWithInputs } from '../verify/option-kinds';

export interface VerifyPairOptions extends Omit<VerifyOptions, 'onProgress'> {
  /** Also run: deploy on cpu, and train on the chosen provider (each against train on cpu). */
  readonly compareEps?: boolean;
  /** A checkpoint reference: read its keys with this scheme instead of detecting it. */
  readonly scheme?: SchemeName;
  /** A checkpoint reference: the published architecture its weights must match. */
  readonly arch?: string;
  /** A .pth reference: the top-level entry holding the weights. */
  readonly entry?: string;
  /** A checkpoint reference: BatchNorm epsilon (default: the scheme's). */
  readonly bnEps?: number;
  /** A checkpoint reference: opset of the graphs built from the weights. */
  readonly opset?: number;
  /** Progress (sessions opened, model runs) and warnings, as convert() reports them. */
  readonly onEvent?: EventSink;
}

export interface VerifyPairReport extends VerifyReport {
  /** With compareEps: the extra runs, labelled. */
  readonly comparisons?: readonly { readonly label: string; readonly report: VerifyReport }[];
}

export async function verify(reference: string, candidate: string, options: VerifyPairOptions = {}): Promise<VerifyPairReport> {
  checkOptions(VERIFY_PAIR_OPTION_KINDS, options, 'verify()');
  requireFile(reference, 'reference model');
  requireFile(candidate, 'candidate model');
  // Scratch folders a killed run left in the temporary folder go now, and are named.
  for (const message of removeStaleStaging([])) options.onEvent?.({ type: 'warning', message });
  const referenceFormat = detectInputFormat(reference);
  if (referenceFormat !== 'onnx') return verifyCheckpoint(reference, referenceFormat, candidate, options);
  const { compareEps, onEvent, scheme, arch, entry, bnEps, opset, ...rest } = options;
  const emit = onEvent ?? (() => {});
  const candidateFormat = candidateFormatOf(candidate);
  if (candidateFormat !== 'onnx') {
    throw new UserError(`${reference} is an ONNX model and ${candidate} is ${FORMATS[candidateFormat].described}: an ONNX training model is checked against a deploy ONNX`, {
      code: 'BAD_USAGE',
      hint: 'check deploy weights against the training checkpoint they were converted from: repvgg-convert verify train.pth deploy.safetensors',
    });
  }
  for (const [k, v] of Object.entries({ scheme, arch, entry, opset })) {
    if (v !== undefined) emit({ type: 'warning', message: `--${k} (${k}) applies only to a checkpoint reference; ${reference} is an ONNX model, so it is ignored` });
  }
  const o: VerifyOptions = { ...rest, inputShapes: resolveInputShapes(rest.inputShapes, reference), onProgress: verifyProgress(emit) };
  const ignored = ignoredWithInputs(rest);
  if (ignored) emit({ type: 'warning', message: ignored });
  emit({ type: 'phase-start', phase: 'verify' });
  const started = performance.now();
  try {
    const main = await verifyModels(reference, candidate, o);
    if (compareEps && main.ep === 'cpu') emit({ type: 'warning', message: '--compare-eps (compareEps) compares a GPU provider with the CPU; the check ran on the CPU, so there is nothing to compare' });
    if (!compareEps || main.ep === 'cpu') return main;
    // the saved files hold the main check's inputs and outputs
    const extra: VerifyOptions = { ...o, saveInputs: undefined, saveResults: undefined };
    const comparisons = [
      { label: `deploy on cpu vs train on cpu`, report: await verifyModels(reference, candidate, { ...extra, ep: 'cpu' }) },
      { label: `train on ${main.ep} vs train on cpu`, report: await verifyModels(reference, reference, { ...extra, ep: main.ep }) },
    ];
    return { ...main, ok: main.ok && comparisons.every((c) => c.report.ok), comparisons };
  } finally {
    emit({ type: 'phase-end', phase: 'verify', ms: performance.now() - started });
  }
}

/** A training checkpoint against deploy weights or a deploy ONNX: the graphs built from the weights. */
async function verifyCheckpoint(reference: string, format: 'safetensors' | 'pth', candidate: string, options: VerifyPairOptions): Promise<VerifyPairReport> {
  const { compareEps, onEvent, scheme, arch, entry, bnEps, opset, ...rest } = options;
  const emit = onEvent ?? (() => {});
  if (compareEps) emit({ type: 'warning', message: '--compare-eps (compareEps) is for ONNX pairs; the check of a checkpoint pair runs once' });
  const ckpt = require('../checkpoint') as typeof import('../checkpoint');
  const { checkBlocksFromWeights, checkWeightsPair } = require('./check-weights') as typeof import('./check-weights');
  const candidateFormat = candidateFormatOf(candidate);
  const sd = readWeights(reference, format, { entry });
  try {
    // Refuses a checkpoint that is not a training one (already converted, or no known blocks).
    const conversion = ckpt.convertStateDict(sd, { scheme, bnEps });
    const architecture = ckpt.CLASSIFIER_SCHEMES.includes(conversion.report.scheme) ? ckpt.inferArchitecture(sd, { arch, scheme: conversion.report.scheme }) : undefined;
    const inputShape = checkpointInputShape(rest.inputShapes);
    const folder = CheckFolder.inTemp();
    emit({ type: 'phase-start', phase: 'verify' });
    const started = performance.now();
    const deploy = { file: candidate, format: candidateFormat, expected: conversion.tensors };
    try {
      // Without a whole architecture (a detector's blocks), each block is checked on its own.
      const report = architecture
        ? await checkWeightsPair({ train: sd, arch: architecture, build: { inputShape, opset, bnEps: conversion.report.bnEps }, candidate: deploy }, folder, { ...rest, inputShapes: undefined }, emit)
        : await checkBlocksFromWeights({ train: sd, scheme: conversion.report.scheme, bnEps: conversion.report.bnEps, candidate: deploy }, folder, rest, emit);
      return { ...report, reference, candidate };
    } finally {
      folder.remove();
      emit({ type: 'phase-end', phase: 'verify', ms: performance.now() - started });
    }
  } finally {
    sd.close?.();
  }
}

/** A deploy file's format: by its first bytes, and a .wts (text) by its extension. */
function candidateFormatOf(file: string): FormatName {
  const ext = path.extname(file).toLowerCase();
  if (FORMATS.wts.extensions.includes(ext)) return 'wts';
  return detectInputFormat(file);
}

/** The check's own progress (sessions opened, model runs: two a sample) as 'verify' progress events. */
export function verifyProgress(emit: EventSink): (e: VerifyProgress) => void {
  return (e) => emit({ type: 'progress', phase: 'verify', done: e.done, total: e.total, unit: e.phase === 'load' ? 'sessions' : 'runs' });
}
