// `repvgg-convert verify <reference> <candidate>`: run both models and compare every output. The report
// goes to stdout, passed or failed; a failure also says so on stderr and exits 1.
import { verify } from '../../api/verify';
import { CheckFailedError } from '../../errors';
import { defined, verifyOptionsFrom } from '../args';
import { VerifyArgs } from '../flags';
import { Output } from '../output';
import { progressPrinter } from '../progress';
import { renderVerify } from '../render';

export async function runVerify(a: VerifyArgs, out: Output): Promise<number> {
  const progress = progressPrinter(out);
  let report;
  try {
    report = await verify(a.reference, a.candidate, defined({ ...verifyOptionsFrom(a), compareEps: a['compare-eps'], scheme: a.scheme, arch: a.arch, entry: a.entry, bnEps: a['bn-eps'], opset: a.opset, onEvent: progress }));
  } finally {
    progress.stop();
  }
  out.document(report);
  out.report([renderVerify(report), ...(report.comparisons ?? []).map((c) => `${c.label}:\n${renderVerify(c.report)}`)].join('\n\n'));
  if (!report.ok) {
    throw new CheckFailedError(
      report.problems.length > 0
        ? `${a.candidate} and ${a.reference} could not be compared: ${report.problems.join('; ')}`
        : `${a.candidate} differs from ${a.reference} beyond atol ${report.atol} / rtol ${report.rtol}${report.firstDifference ? `, from ${report.firstDifference.node} on` : ''}`,
    );
  }
  return 0;
}
