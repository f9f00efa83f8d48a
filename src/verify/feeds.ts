// Where the check's inputs come from, sample by sample: seeded random draws (the default), or the
// arrays of files the user named (input-files.ts), whose shapes then set the inputs' shapes. Either way
// each sample's feeds are the reference's tensors; candidateFeeds converts them where the candidate
// takes another float type.
import * as os from 'os';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { DType, dtypeInfo } from '../dtype';
import { UserError } from '../errors';
import type { NpyArray } from '../formats/npy';
import { loadInputFiles, ModelInput } from './input-files';
import { InputDistribution, makeFeeds } from './inputs';
import { seededRandom } from './random';
import { float16Tensor, onnxruntime } from './runtime';
import { InputPlan, planInputs } from './shapes';

type Meta = readonly InferenceSession.ValueMetadata[];

export interface FeedOptions {
  /** Files to read the inputs from (input-files.ts); absent: seeded random inputs. */
  readonly inputs?: readonly string[];
  readonly seed: number;
  readonly samples: number;
  readonly inputDistribution: InputDistribution;
  readonly inputShapes: Readonly<Record<string, readonly number[]>>;
}

export interface Feeds {
  readonly plan: InputPlan;
  readonly samples: number;
  /** 'random', or the files given, in their order. */
  readonly from: 'random' | readonly string[];
  /** How the files were read where it matters (float64 rounded to float32). */
  readonly notes: readonly string[];
  /** The reference's feeds of the next sample. */
  next(): Record<string, Tensor>;
}

export function prepareFeeds(reference: Meta, candidate: Meta, o: FeedOptions): Feeds {
  if (o.inputs === undefined) {
    const plan = planInputs(reference, candidate, o.inputShapes);
    const rng = seededRandom(o.seed);
    return { plan, samples: o.samples, from: 'random', notes: [], next: () => makeFeeds(plan.inputs, rng, o.inputDistribution) };
  }
  const files = loadInputFiles(o.inputs, reference.map(modelInput));
  for (const [name, given] of Object.entries(o.inputShapes)) {
    const read = files.shapes[name];
    if (read && (read.length !== given.length || read.some((d, i) => d !== given[i]))) {
      throw new UserError(`the input shape given for "${name}", [${given.join(', ')}], is not the shape of its files, [${read.join(', ')}]`, {
        code: 'BAD_USAGE',
        hint: 'with --inputs the files give the shapes: drop --input-shape, or give the shape they have',
      });
    }
  }
  const plan = planInputs(reference, candidate, files.shapes);
  let k = 0;
  return {
    plan,
    samples: files.samples.length,
    from: files.files,
    notes: files.notes,
    next: () => {
      const sample = files.samples[k++];
      return Object.fromEntries(plan.inputs.map((i) => [i.name, tensorOf(sample[i.name])]));
    },
  };
}

function modelInput(m: InferenceSession.ValueMetadata): ModelInput {
  if (!m.isTensor) throw new UserError(`input "${m.name}" is not a tensor; only tensors can be fed from files`, { code: 'UNSUPPORTED' });
  return { name: m.name, dtype: m.type, shape: m.shape };
}

/** An onnxruntime tensor over the array's little-endian bytes (copied only when not aligned for its type). */
export function tensorOf(a: NpyArray): Tensor {
  if (os.endianness() !== 'LE') throw new UserError('input files are read as little-endian elements, and this machine is big-endian', { code: 'UNSUPPORTED' });
  const ort = onnxruntime();
  const dims = [...a.shape];
  const size = dtypeInfo(a.dtype).size;
  const bytes = a.data.byteOffset % size === 0 ? a.data : a.data.slice();
  const view = <T>(Ctor: new (b: ArrayBufferLike, offset: number, length: number) => T): T => new Ctor(bytes.buffer, bytes.byteOffset, bytes.byteLength / size);
  switch (a.dtype as DType) {
    case 'float32':
      return new ort.Tensor('float32', view(Float32Array), dims);
    case 'float16':
      return float16Tensor(view(Uint16Array), dims);
    case 'float64':
      return new ort.Tensor('float64', view(Float64Array), dims);
    case 'int64':
      return new ort.Tensor('int64', view(BigInt64Array), dims);
    case 'int32':
      return new ort.Tensor('int32', view(Int32Array), dims);
    case 'int16':
      return new ort.Tensor('int16', view(Int16Array), dims);
    case 'int8':
      return new ort.Tensor('int8', view(Int8Array), dims);
    case 'uint8':
      return new ort.Tensor('uint8', view(Uint8Array), dims);
    case 'bool':
      return new ort.Tensor('bool', view(Uint8Array), dims);
    default:
      throw new UserError(`${a.dtype} inputs cannot be fed to onnxruntime-node`, { code: 'UNSUPPORTED' });
  }
}
