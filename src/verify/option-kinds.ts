// What each verification option may hold (see options.ts); light enough for the command line's --help.
import type { OptionTableOf } from '../options';
import { EP_CHOICES } from './ep-choices';
import type { VerifyOptions } from './verify';

export const PRECISIONS = ['fp32', 'fp16'] as const;
export const INPUT_DISTRIBUTIONS = ['normal', 'uniform'] as const;

export const VERIFY_OPTION_KINDS = {
  seed: { type: 'number', integer: true, min: 0, max: 2 ** 32 - 1 },
  samples: { type: 'number', integer: true, min: 1 },
  inputShapes: { type: 'shapes' },
  atol: { type: 'number', min: 0 },
  rtol: { type: 'number', min: 0 },
  precision: { type: 'choice', choices: PRECISIONS },
  ep: { type: 'choice', choices: EP_CHOICES },
  referenceEp: { type: 'choice', choices: ['cpu'] },
  inputDistribution: { type: 'choice', choices: INPUT_DISTRIBUTIONS },
  inputs: { type: 'strings' },
  saveInputs: { type: 'string' },
  saveResults: { type: 'string' },
  onProgress: { type: 'function' },
  gpuFacts: { type: 'object' },
  perBlock: { type: 'boolean' },
  probeFolder: { type: 'object' },
  memoryLimit: { type: 'number', integer: true, min: 64 },
  timeLimit: { type: 'number', min: 1 },
} as const satisfies OptionTableOf<VerifyOptions>;

/** The warning for options that shape random inputs when files give the inputs instead (undefined: none). */
export function ignoredWithInputs(o: Pick<VerifyOptions, 'inputs' | 'seed' | 'samples' | 'inputDistribution'>): string | undefined {
  if (o.inputs === undefined) return undefined;
  const given = [o.seed !== undefined && '--seed (seed)', o.samples !== undefined && '--samples (samples)', o.inputDistribution !== undefined && 'inputDistribution'].filter((g): g is string => !!g);
  if (given.length === 0) return undefined;
  return `${given.join(', ')} ${given.length > 1 ? 'set' : 'sets'} the random inputs, which --inputs (inputs) replaces, so ${given.length > 1 ? 'they are' : 'it is'} ignored`;
}
