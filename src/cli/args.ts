// Flag values → library options: shapes parsed, absent flags left out (the library applies defaults and
// can tell an option that was given from one that was not).
import { UserError } from '../errors';
import type { VerifyOptions } from '../verify/verify';
import type { EpChoice } from '../verify/ep-choices';

/** "1x3x224x224" for the only input, or "NAME:1x3x224x224"; may repeat. */
export function parseInputShapes(specs: readonly string[] | undefined): Record<string, number[]> | undefined {
  if (!specs || specs.length === 0) return undefined;
  const out: Record<string, number[]> = {};
  for (const spec of specs) {
    const at = spec.lastIndexOf(':');
    const name = at >= 0 ? spec.slice(0, at) : '*';
    const dims = (at >= 0 ? spec.slice(at + 1) : spec).split(/[x,]/).map((d) => (/^\d+$/.test(d.trim()) ? Number(d) : NaN));
    if (dims.length === 0 || dims.some((d) => !Number.isSafeInteger(d) || d <= 0)) {
      throw new UserError(`--input-shape ${spec} is not a shape`, { code: 'BAD_USAGE', hint: 'write it as 1x3x224x224, or input:1x3x224x224 to name the input' });
    }
    if (name in out) throw new UserError(`--input-shape gives ${name === '*' ? 'the input' : `input ${name}`} twice`, { code: 'BAD_USAGE', hint: 'give each input one shape' });
    out[name] = dims;
  }
  return out;
}

/** The object without its undefined entries. */
export function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

export interface CheckFlags {
  readonly ep?: EpChoice;
  readonly seed?: number;
  readonly samples?: number;
  readonly atol?: number;
  readonly rtol?: number;
  readonly 'input-shape'?: readonly string[];
  readonly inputs?: readonly string[];
  readonly 'save-inputs'?: string;
  readonly 'save-results'?: string;
  readonly 'per-block'?: boolean;
  readonly 'memory-limit'?: number;
  readonly 'time-limit'?: number;
}

/** The check's options from its flags; an unnamed --input-shape stays under '*' (the library resolves it). */
export function verifyOptionsFrom(a: CheckFlags): Omit<VerifyOptions, 'onProgress'> {
  return defined({
    ep: a.ep,
    seed: a.seed,
    samples: a.samples,
    atol: a.atol,
    rtol: a.rtol,
    inputShapes: parseInputShapes(a['input-shape']),
    inputs: a.inputs,
    saveInputs: a['save-inputs'],
    saveResults: a['save-results'],
    perBlock: a['per-block'],
    memoryLimit: a['memory-limit'],
    timeLimit: a['time-limit'],
  });
}
