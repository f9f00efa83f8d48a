// `repvgg-convert verify <reference> <candidate>`: run both models and compare every output.
import type { Argv } from 'yargs';
import { resolveInputShapes } from '../../api/model-info';
import { requireFile } from '../../formats/detect';
import { verifyModels } from '../../verify';
import { VerifyArgs, verifyFlags, verifyOptionsFrom } from '../args';
import { Output } from '../output';
import { renderVerify } from '../render';
import { CheckFailedError } from '../../errors';
import { progressPrinter } from '../progress';

export interface VerifyCommandArgs extends VerifyArgs {
  reference: string;
  candidate: string;
}

export function verifyCommand(y: Argv): Argv<VerifyCommandArgs> {
  return y
    .positional('reference', { type: 'string', demandOption: true, describe: 'the training-time (reference) ONNX model; runs on cpu' })
    .positional('candidate', { type: 'string', demandOption: true, describe: 'the deploy ONNX model; runs on --ep' })
    .options(verifyFlags) as unknown as Argv<VerifyCommandArgs>;
}

export async function runVerify(a: VerifyCommandArgs, out: Output): Promise<number> {
  requireFile(a.reference, 'reference model');
  requireFile(a.candidate, 'candidate model');
  const options = verifyOptionsFrom(a);
  const emit = progressPrinter(out);
  const report = await verifyModels(a.reference, a.candidate, { ...options, inputShapes: resolveInputShapes(options.inputShapes, a.reference), onProgress: (e) => emit({ type: 'progress', phase: 'verify', done: e.done, total: e.total }) });
  if (out.json) out.report(report);
  if (report.ok) out.say(renderVerify(report));
  else {
    out.shout(renderVerify(report));
    throw new CheckFailedError(`${a.candidate} differs from ${a.reference} beyond atol ${report.atol} / rtol ${report.rtol}`);
  }
  return 0;
}
