// Option parsing shared by the commands: input shapes, execution providers, verification settings.
import { UserError } from '../errors';
import { DEFAULT_ATOL, DEFAULT_ATOL_FP16, DEFAULT_RTOL, DEFAULT_RTOL_FP16, DEFAULT_SAMPLES, DEFAULT_SEED } from '../verify/defaults';
import { EP_CHOICES, EpChoice } from '../verify/ep-choices';
import type { VerifyOptions } from '../verify/verify';
import type { Options } from 'yargs';

/** "1x3x224x224" for the only input, or "NAME:1x3x224x224"; may repeat. */
export function parseInputShapes(specs: readonly string[] | undefined): Record<string, number[]> | undefined {
  if (!specs || specs.length === 0) return undefined;
  const out: Record<string, number[]> = {};
  for (const spec of specs) {
    const at = spec.lastIndexOf(':');
    const name = at >= 0 ? spec.slice(0, at) : '*';
    const dims = (at >= 0 ? spec.slice(at + 1) : spec).split(/[x,]/).map((d) => Number(d));
    if (dims.length === 0 || dims.some((d) => !Number.isSafeInteger(d) || d <= 0)) {
      throw new UserError(`--input-shape ${spec} is not a shape`, { code: 'BAD_USAGE', hint: 'write it as 1x3x224x224, or input:1x3x224x224 to name the input' });
    }
    out[name] = dims;
  }
  return out;
}

export const verifyFlags = {
  ep: { type: 'string', choices: EP_CHOICES as unknown as string[], default: 'cpu', describe: 'execution provider for the deploy model (the reference always runs on cpu); auto = first that works, GPU first' },
  seed: { type: 'number', default: DEFAULT_SEED, describe: 'seed of the random inputs' },
  samples: { type: 'number', default: DEFAULT_SAMPLES, describe: 'number of random inputs' },
  atol: { type: 'number', describe: `absolute tolerance; an element fails only if it exceeds both atol and rtol·|ref| (default ${DEFAULT_ATOL}; FP16 models ${DEFAULT_ATOL_FP16})` },
  rtol: { type: 'number', describe: `relative tolerance (default ${DEFAULT_RTOL}; FP16 models ${DEFAULT_RTOL_FP16})` },
  'input-shape': { type: 'string', array: true, describe: 'shape of an input: 1x3x224x224 or NAME:1x3x224x224 (dynamic dims default to 1)' },
} as const satisfies Record<string, Options>;

export interface VerifyArgs {
  ep: string;
  seed: number;
  samples: number;
  atol?: number;
  rtol?: number;
  'input-shape'?: string[];
}

/** Verification options from flags; an unnamed --input-shape stays under the key '*' (see resolveInputShapes). */
export function verifyOptionsFrom(a: VerifyArgs): Omit<VerifyOptions, 'onProgress'> {
  for (const [k, v] of Object.entries({ seed: a.seed, samples: a.samples, atol: a.atol, rtol: a.rtol })) {
    if (v === undefined) continue;
    if (!Number.isFinite(v) || v < 0) throw new UserError(`--${k} ${v} is not a non-negative number`, { code: 'BAD_USAGE' });
  }
  if (!Number.isInteger(a.samples) || a.samples < 1) throw new UserError(`--samples ${a.samples} must be a whole number of at least 1`, { code: 'BAD_USAGE' });
  return { ep: a.ep as EpChoice, seed: a.seed, samples: a.samples, atol: a.atol, rtol: a.rtol, inputShapes: parseInputShapes(a['input-shape']) };
}
