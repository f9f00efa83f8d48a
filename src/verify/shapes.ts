// Concrete input shapes for a reference/candidate pair: the caller's shapes when given, else the
// models' own, with a dynamic batch axis set to 1. Other dynamic dims must come from the caller.
// A float16 input on one side and float32 on the other is allowed (an FP16 deploy model); any other
// dtype difference makes the pair unequal.
import type { InferenceSession } from 'onnxruntime-node';
import { UserError } from '../errors';

export interface InputSpec {
  readonly name: string;
  /** onnxruntime's tensor type name in the reference, e.g. 'float32'. */
  readonly dtype: string;
  /** Set when the candidate takes another float type; its feed is converted from the reference's. */
  readonly candidateDtype?: string;
  readonly shape: readonly number[];
}

/** Float types that may differ between reference and candidate: values convert between them. */
export const CONVERTIBLE_FLOATS: readonly string[] = ['float32', 'float16'];

export function convertibleFloats(a: string, b: string): boolean {
  return a === b || (CONVERTIBLE_FLOATS.includes(a) && CONVERTIBLE_FLOATS.includes(b));
}

type Dim = number | string;
type Meta = readonly InferenceSession.ValueMetadata[];

/** dim_params that mean "batch" wherever they sit. */
const BATCH_NAMES = /^(batch|batch_size|batchsize|n|b|bs|num_images)$/i;

export interface InputPlan {
  readonly inputs: readonly InputSpec[];
  /** Interface differences that make the pair unequal (the pair cannot be run). */
  readonly problems: readonly string[];
}

/** What messages call the two models (benchmarks say train and deploy). */
export interface PairLabels {
  readonly reference: string;
  readonly candidate: string;
}

export function planInputs(
  reference: Meta,
  candidate: Meta,
  overrides: Readonly<Record<string, readonly number[]>> = {},
  labels: PairLabels = { reference: 'reference', candidate: 'candidate' },
): InputPlan {
  const problems: string[] = [];
  const [a, b] = [labels.reference, labels.candidate];
  const refNames = reference.map((m) => m.name);
  const candNames = new Set(candidate.map((m) => m.name));
  const missing = refNames.filter((n) => !candNames.has(n));
  const extra = [...candNames].filter((n) => !refNames.includes(n));
  if (missing.length > 0 || extra.length > 0) {
    problems.push(
      `the models take different inputs: ${a} has [${refNames.join(', ')}], ${b} has [${[...candNames].join(', ')}]`,
    );
    return { inputs: [], problems };
  }
  for (const name of Object.keys(overrides)) {
    if (!refNames.includes(name)) {
      throw new UserError(`an input shape was given for "${name}", but the models' inputs are [${refNames.join(', ')}]`, {
        code: 'BAD_USAGE',
      });
    }
  }
  const inputs: InputSpec[] = [];
  for (const ref of reference) {
    const cand = candidate.find((m) => m.name === ref.name)!;
    if (!ref.isTensor || !cand.isTensor) {
      throw new UserError(`input "${ref.name}" is not a tensor; only tensor inputs can be fed random data`, {
        code: 'UNSUPPORTED',
      });
    }
    if (!convertibleFloats(ref.type, cand.type)) {
      problems.push(`input "${ref.name}" is ${ref.type} in the ${a} but ${cand.type} in the ${b}`);
      continue;
    }
    const given = overrides[ref.name];
    const shape = given ? checkGiven(ref.name, given, ref.shape, cand.shape) : resolve(ref.name, ref.shape, cand.shape, problems, labels);
    if (shape) inputs.push({ name: ref.name, dtype: ref.type, ...(cand.type !== ref.type ? { candidateDtype: cand.type } : {}), shape });
  }
  return { inputs, problems };
}

function checkGiven(name: string, given: readonly number[], ...modelShapes: (readonly Dim[])[]): readonly number[] {
  for (const d of given) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new UserError(`input shape for "${name}" has a dimension ${d} that is not a non-negative integer`, { code: 'BAD_USAGE' });
    }
  }
  for (const model of modelShapes) {
    // An empty metadata shape can also mean "rank unknown", so it does not constrain the caller.
    if (model.length === 0) continue;
    const fits = model.length === given.length && model.every((d, i) => typeof d !== 'number' || d === given[i]);
    if (!fits) {
      throw new UserError(`input shape [${given.join(', ')}] for "${name}" does not fit the model's [${fmt(model)}]`, {
        code: 'BAD_USAGE',
      });
    }
  }
  return [...given];
}

function resolve(name: string, ref: readonly Dim[], cand: readonly Dim[], problems: string[], labels: PairLabels): readonly number[] | undefined {
  const differ = () => `input "${name}" has shape [${fmt(ref)}] in the ${labels.reference} but [${fmt(cand)}] in the ${labels.candidate}`;
  if (cand.length !== ref.length) {
    problems.push(differ());
    return undefined;
  }
  const out: number[] = [];
  for (let i = 0; i < ref.length; i++) {
    const r = ref[i];
    const c = cand[i];
    if (typeof r === 'number' && typeof c === 'number' && r !== c) {
      problems.push(differ());
      return undefined;
    }
    if (typeof r === 'number') out.push(r);
    else if (typeof c === 'number') out.push(c);
    else if (i === 0 || BATCH_NAMES.test(r) || BATCH_NAMES.test(c)) out.push(1);
    else {
      const label = r !== '' ? ` ("${r}")` : '';
      throw new UserError(`input "${name}" has a dynamic dimension ${i}${label} that cannot be resolved: its shape is [${fmt(ref)}]`, {
        code: 'BAD_USAGE',
        hint: `give the full shape, one number for each dimension of [${fmt(ref)}]: --input-shape ${name}:${example(ref)} on the command line, inputShapes in the library`,
      });
    }
  }
  return out;
}

/** The shape to fill in: known sizes as they are, the batch as 1, the others by their names. */
function example(dims: readonly Dim[]): string {
  return dims.map((d, i) => (typeof d === 'number' ? String(d) : i === 0 || BATCH_NAMES.test(d) ? '1' : d !== '' ? d.toUpperCase() : 'N')).join('x');
}

function show(d: Dim): string {
  return typeof d === 'number' ? String(d) : d === '' ? '?' : d;
}

function fmt(shape: readonly Dim[]): string {
  return shape.map(show).join(', ');
}
