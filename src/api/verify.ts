// verify(): the equivalence check as a library call. With `compareEps`, a GPU check also runs the
// other combinations, so a difference can be pinned on the conversion or on the provider.
import { requireFile } from '../formats/registry';
import { checkOptions } from '../options';
import { VerifyOptions, VerifyProgress, VerifyReport, verifyModels } from '../verify';
import { EventSink } from './events';
import { resolveInputShapes } from './model-info';
import { VERIFY_PAIR_OPTION_KINDS } from './option-kinds';
import { ignoredWithInputs } from '../verify/option-kinds';

export interface VerifyPairOptions extends Omit<VerifyOptions, 'onProgress'> {
  /** Also run: deploy on cpu, and train on the chosen provider (each against train on cpu). */
  readonly compareEps?: boolean;
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
  const { compareEps, onEvent, ...rest } = options;
  const emit = onEvent ?? (() => {});
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

/** The check's own progress (sessions opened, model runs: two a sample) as 'verify' progress events. */
export function verifyProgress(emit: EventSink): (e: VerifyProgress) => void {
  return (e) => emit({ type: 'progress', phase: 'verify', done: e.done, total: e.total, unit: e.phase === 'load' ? 'sessions' : 'runs' });
}
