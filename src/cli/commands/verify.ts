// `repvgg-convert verify <reference> <candidate>`: run both models and compare every output.
import type { Argv } from 'yargs';
import { verify } from '../../api/verify';
import { VerifyArgs, verifyFlags, verifyOptionsFrom } from '../args';
import { Output } from '../output';
import { renderVerify } from '../render';
import { CheckFailedError } from '../../errors';
import { progressPrinter } from '../progress';

export interface VerifyCommandArgs extends VerifyArgs {
  reference: string;
  candidate: string;
  'compare-eps': boolean;
}

export function verifyCommand(y: Argv): Argv<VerifyCommandArgs> {
  return y
    .positional('reference', { type: 'string', demandOption: true, describe: 'the training-time (reference) ONNX model; runs on cpu' })
    .positional('candidate', { type: 'string', demandOption: true, describe: 'the deploy ONNX model; runs on --ep' })
    .options({
      ...verifyFlags,
      'compare-eps': { type: 'boolean', default: false, describe: 'with a GPU --ep: also run deploy on cpu and train on the GPU, to tell conversion errors from provider differences' },
    }) as unknown as Argv<VerifyCommandArgs>;
}

export async function runVerify(a: VerifyCommandArgs, out: Output): Promise<number> {
  const emit = progressPrinter(out);
  emit({ type: 'phase-start', phase: 'verify' });
  let report;
  try {
    report = await verify(a.reference, a.candidate, { ...verifyOptionsFrom(a), compareEps: a['compare-eps'], onProgress: (e) => emit({ type: 'progress', phase: 'verify', done: e.done, total: e.total }) });
  } finally {
    emit.stop();
  }
  if (out.json) out.report(report);
  const text = [renderVerify(report), ...(report.comparisons ?? []).map((c) => `${c.label}:\n${renderVerify(c.report)}`)].join('\n\n');
  if (report.ok) out.say(text);
  else {
    out.shout(text);
    throw new CheckFailedError(
      report.problems.length > 0
        ? `${a.candidate} and ${a.reference} could not be compared: ${report.problems.join('; ')}`
        : `${a.candidate} differs from ${a.reference} beyond atol ${report.atol} / rtol ${report.rtol}`,
    );
  }
  return 0;
}
