// verify(): the equivalence check as a library call. With `compareEps`, a GPU check also runs the
// other combinations, so a difference can be pinned on the conversion or on the provider.
import { requireFile } from '../formats/detect';
import { VerifyOptions, VerifyReport, verifyModels } from '../verify';
import { resolveInputShapes } from './model-info';

export interface VerifyPairOptions extends VerifyOptions {
  /** Also run: deploy on cpu, and train on the chosen provider (each against train on cpu). */
  readonly compareEps?: boolean;
}

export interface VerifyPairReport extends VerifyReport {
  /** With compareEps: the extra runs, labelled. */
  readonly comparisons?: readonly { readonly label: string; readonly report: VerifyReport }[];
}

export async function verify(reference: string, candidate: string, options: VerifyPairOptions = {}): Promise<VerifyPairReport> {
  requireFile(reference, 'reference model');
  requireFile(candidate, 'candidate model');
  const { compareEps, ...rest } = options;
  const o: VerifyOptions = { ...rest, inputShapes: resolveInputShapes(rest.inputShapes, reference) };
  const main = await verifyModels(reference, candidate, o);
  if (!compareEps || main.ep === 'cpu') return main;
  const comparisons = [
    { label: `deploy on cpu vs train on cpu`, report: await verifyModels(reference, candidate, { ...o, ep: 'cpu' }) },
    { label: `train on ${main.ep} vs train on cpu`, report: await verifyModels(reference, reference, { ...o, ep: main.ep }) },
  ];
  return { ...main, ok: main.ok && comparisons.every((c) => c.report.ok), comparisons };
}
