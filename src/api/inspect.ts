// inspect(): what a model is and what a conversion would do to it, as data; nothing is written.
import { detectInputFormat } from '../formats/registry';
import type { InspectOptions, InspectReport } from '../inspect';
import { checkOptions } from '../options';
import { EventSink } from './events';
import { INSPECT_OPTION_KINDS } from './option-kinds';
import { Provenance, readProvenance } from './provenance';

export interface InspectFileOptions extends InspectOptions {
  /** Warnings (an option that does not apply to this file), as convert() reports them. */
  readonly onEvent?: EventSink;
}

/** inspect's report, and what the model records of how it was made when this tool made it. */
export type InspectResult = InspectReport & { readonly provenance?: Provenance };

export async function inspect(file: string, options: InspectFileOptions = {}): Promise<InspectResult> {
  checkOptions(INSPECT_OPTION_KINDS, options, 'inspect()');
  const { onEvent, ...rest } = options;
  const format = detectInputFormat(file);
  const only = (k: 'scheme' | 'arch' | 'entry') => (k === 'entry' ? format === 'pth' : format !== 'onnx');
  for (const k of ['scheme', 'arch', 'entry'] as const) {
    if (rest[k] === undefined || only(k)) continue;
    const what = format === 'onnx' ? 'an ONNX model' : 'a safetensors checkpoint';
    onEvent?.({ type: 'warning', message: `--${k} (${k}) applies only to ${k === 'entry' ? '.pth inputs' : 'checkpoint inputs (.safetensors, .pth)'}; ${file} is ${what}, so it is ignored` });
  }
  // Loaded on the first call: importing the library does not load inspect's code.
  const report = (require('../inspect') as typeof import('../inspect')).inspectModel(file, rest);
  const made = readProvenance(file, format);
  return made ? { ...report, provenance: made } : report;
}
