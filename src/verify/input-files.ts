// The check's inputs read from files the user names instead of drawn at random. A spec is
//   x.npy | x.npz | x.bin:1x3x224x224, each optionally NAME=… to name the model input it feeds.
// What a file is comes from its first bytes (numpy's magic, a zip header), not its name; raw bytes are
// little-endian elements of the input's own dtype and need a shape. Each spec is one sample, except an
// .npz in the sampleK/NAME layout (what saving inputs writes), which holds several; for a model with
// several inputs, NAME=file specs for the same input go to samples 0, 1, … in the order given. Every
// array is checked against the input it feeds (dtype, and shape where the model fixes it) before
// anything runs; float64 arrays (numpy's default) feeding a float32 input are rounded, with a note.
import * as fs from 'fs';
import { DType, DTYPES, numel } from '../dtype';
import { UserError } from '../errors';
import { openRegularFile, readFully } from '../formats/bytes';
import { NpyArray, readNpyFile, MAX_NPY_HEADER } from '../formats/npy';
import { MAX_NPZ_ENTRY, readNpz } from '../formats/npz';
import { printable } from '../formats/printable';

/** One model input as the files must fit it (onnxruntime's metadata). */
export interface ModelInput {
  readonly name: string;
  /** onnxruntime's type name, e.g. 'float32'. */
  readonly dtype: string;
  /** Numbers are fixed; strings are dynamic; empty when the model does not say. */
  readonly shape: readonly (number | string)[];
}

export interface InputFiles {
  /** The files, in the order given. */
  readonly files: readonly string[];
  /** Each sample's array for every input, in the input's dtype. */
  readonly samples: readonly Readonly<Record<string, NpyArray>>[];
  /** Each input's shape, the same in every sample. */
  readonly shapes: Readonly<Record<string, readonly number[]>>;
  /** How files were read where it matters: float64 rounded to float32. */
  readonly notes: readonly string[];
}

interface Spec {
  readonly text: string;
  readonly name?: string;
  readonly file: string;
  readonly shape?: readonly number[];
}

/** One array and what messages call it ("x.npz (array sample1/input)"). */
interface Found {
  readonly label: string;
  readonly file: string;
  readonly array: NpyArray;
}

const SAMPLE_KEY = /^sample(0|[1-9]\d*)\/(.+)$/;
const NUMPY_TYPE: Readonly<Record<string, string>> = {
  float32: 'np.float32', float16: 'np.float16', float64: 'np.float64', int64: 'np.int64', int32: 'np.int32',
  int16: 'np.int16', int8: 'np.int8', uint8: 'np.uint8', bool: 'np.bool_',
};
const usage = (message: string, hint?: string) => new UserError(message, { code: 'BAD_USAGE', hint });

export function loadInputFiles(specs: readonly string[], inputs: readonly ModelInput[]): InputFiles {
  if (specs.length === 0) throw usage('no input files were given', 'name at least one: --inputs x.npy');
  const names = inputs.map((i) => i.name);
  const parsed = specs.map((s) => parseSpec(s, names));
  const limit = entryLimit(inputs);
  const samples: Record<string, Found>[] = [];
  const perInput = new Map<string, Found[]>();
  let wholeSamples = false;

  for (const spec of parsed) {
    const kind = fileKind(spec);
    if (kind === 'npz') {
      if (spec.name !== undefined) throw usage(`--inputs ${spec.text}: an .npz names its arrays itself`, `drop "${spec.name}=": --inputs ${spec.file}`);
      samples.push(...npzSamples(spec.file, names, limit));
      wholeSamples = true;
      continue;
    }
    const array = kind === 'npy' ? readNpyFile(spec.file) : readRaw(spec, inputFor(spec, inputs));
    const found = { label: spec.file, file: spec.file, array };
    if (inputs.length === 1) {
      samples.push({ [names[0]]: found });
      wholeSamples = true;
    } else if (spec.name === undefined) {
      throw usage(`--inputs ${spec.text}: the file holds one array, but the model takes ${inputs.length} inputs (${names.join(', ')})`, `name the input it feeds, --inputs ${names[0]}=${spec.text}, or give all of a sample's inputs in one .npz`);
    } else {
      perInput.set(spec.name, [...(perInput.get(spec.name) ?? []), found]);
    }
  }
  if (perInput.size > 0) {
    if (wholeSamples) throw usage('--inputs mixes .npz samples with files for single inputs', "give every sample the same way: each input's files NAME=FILE, or one .npz per sample");
    const counts = names.map((n) => perInput.get(n)?.length ?? 0);
    if (counts.some((c) => c !== counts[0])) {
      throw usage(`--inputs gives ${names.map((n, i) => `${counts[i]} file${counts[i] === 1 ? '' : 's'} for "${n}"`).join(', ')}; each sample needs one file for every input`);
    }
    for (let k = 0; k < counts[0]; k++) samples.push(Object.fromEntries(names.map((n) => [n, perInput.get(n)![k]])));
  }
  return fitSamples(samples, inputs, [...new Set(parsed.map((s) => s.file))]);
}

/** "NAME=FILE:SHAPE" → its parts; NAME is taken only when it is one of the model's inputs. */
function parseSpec(text: string, names: readonly string[]): Spec {
  let rest = text;
  let name: string | undefined;
  // The longest input name that the spec starts with, followed by '=' (names may hold '=' themselves).
  for (const n of names) if (text.startsWith(`${n}=`) && (name === undefined || n.length > name.length)) name = n;
  if (name !== undefined) rest = text.slice(name.length + 1);
  else if (text.includes('=') && !fs.existsSync(text.replace(/:\d+(x\d+)*$/, ''))) {
    const asked = text.slice(0, text.indexOf('='));
    throw usage(`--inputs ${text}: the model has no input named "${printable(asked)}"`, `its inputs are ${names.map((n) => `"${n}"`).join(', ')}`);
  }
  const m = /^(.*):(\d+(?:x\d+)*)$/.exec(rest);
  if (m && !fs.existsSync(rest)) return { text, name, file: m[1], shape: m[2].split('x').map(Number) };
  return { text, name, file: rest };
}

type Kind = 'npy' | 'npz' | 'raw';

/** What the file holds, from its first bytes. */
function fileKind(spec: Spec): Kind {
  const { fd, size } = openRegularFile(spec.file, `--inputs file ${spec.file}`);
  let head: Buffer;
  try {
    head = readFully(fd, spec.file, 0, Buffer.alloc(Math.min(8, size)));
  } finally {
    fs.closeSync(fd);
  }
  const npy = head.subarray(0, 6).equals(Buffer.from('\x93NUMPY', 'latin1'));
  const zip = head.subarray(0, 4).equals(Buffer.from('PK\x03\x04')) || head.subarray(0, 4).equals(Buffer.from('PK\x05\x06'));
  if (spec.shape !== undefined) {
    if (npy) throw usage(`--inputs ${spec.text}: ${spec.file} is a .npy array, which carries its own shape`, `drop the shape: --inputs ${spec.text.replace(/:[\dx]+$/, '')}`);
    return 'raw';
  }
  if (npy) return 'npy';
  if (zip) return 'npz';
  throw usage(`--inputs ${spec.text}: ${spec.file} is neither a .npy array (no \\x93NUMPY magic) nor an .npz archive (no zip header)`, `raw little-endian bytes need their shape: --inputs ${spec.text}:1x3x224x224`);
}

function inputFor(spec: Spec, inputs: readonly ModelInput[]): ModelInput {
  if (spec.name !== undefined) return inputs.find((i) => i.name === spec.name)!;
  if (inputs.length === 1) return inputs[0];
  throw usage(`--inputs ${spec.text}: raw bytes feed one input, but the model takes ${inputs.length} (${inputs.map((i) => i.name).join(', ')})`, `name it: --inputs ${inputs[0].name}=${spec.text}`);
}

/** Raw little-endian elements of the input's dtype; the file's size must be exactly what the shape needs. */
function readRaw(spec: Spec, input: ModelInput): NpyArray {
  const info = DTYPES.get(input.dtype as DType);
  if (!info) throw new UserError(`input "${input.name}" is ${input.dtype}, which raw bytes cannot be read as`, { code: 'UNSUPPORTED' });
  const shape = spec.shape!;
  const need = numel(shape) * info.size;
  const { fd, size } = openRegularFile(spec.file, `--inputs file ${spec.file}`);
  try {
    if (size !== need) {
      throw usage(`--inputs ${spec.text}: ${spec.file} has ${size} bytes, but ${shape.join('x')} ${input.dtype} elements (input "${input.name}") take ${need}`, size % info.size === 0 ? `it holds ${size / info.size} ${input.dtype} elements; give their shape` : undefined);
    }
    return { dtype: info.dtype, shape, data: readFully(fd, spec.file, 0, new Uint8Array(need)) };
  } finally {
    fs.closeSync(fd);
  }
}

/** The largest .npz entry worth reading: a fixed input's bytes as float64 (which may be rounded), plus a header. */
function entryLimit(inputs: readonly ModelInput[]): number {
  let limit = 0;
  for (const i of inputs) {
    if (i.shape.length === 0 || !i.shape.every((d) => typeof d === 'number')) return MAX_NPZ_ENTRY;
    limit = Math.max(limit, numel(i.shape as number[]) * Math.max(8, DTYPES.get(i.dtype as DType)?.size ?? 8));
  }
  return Math.min(MAX_NPZ_ENTRY, limit + MAX_NPY_HEADER + 16);
}

/** An archive's samples: keys sampleK/NAME (K = 0, 1, …), or the input names themselves for one sample. */
function npzSamples(file: string, names: readonly string[], limit: number): Record<string, Found>[] {
  const arrays = readNpz(file, { maxEntryBytes: limit });
  const keys = [...arrays.keys()];
  const found = (key: string): Found => ({ label: `${file} (array ${printable(key)})`, file, array: arrays.get(key)! });
  const list = (ks: readonly string[]) => ks.map((k) => `"${printable(k)}"`).join(', ') || 'none';
  const exact = (ks: readonly string[]) => ks.length === names.length && names.every((n) => ks.includes(n));
  if (exact(keys)) return [Object.fromEntries(names.map((n) => [n, found(n)]))];
  // np.savez(path, a) names its one array arr_0
  if (names.length === 1 && keys.length === 1 && keys[0] === 'arr_0') return [{ [names[0]]: found('arr_0') }];
  if (keys.length > 0 && keys.every((k) => SAMPLE_KEY.test(k))) {
    const bySample = new Map<number, string[]>();
    for (const k of keys) {
      const [, index] = SAMPLE_KEY.exec(k)!;
      bySample.set(Number(index), [...(bySample.get(Number(index)) ?? []), k]);
    }
    const samples: Record<string, Found>[] = [];
    for (let s = 0; s < bySample.size; s++) {
      const ks = bySample.get(s);
      if (!ks) throw usage(`${file} has ${bySample.size} samples but no sample${s}/ (samples are numbered from 0 with no gaps)`);
      const inner = ks.map((k) => k.slice(`sample${s}/`.length));
      if (!exact(inner)) throw usage(`${file}: sample${s} holds ${list(inner)}, but the model's inputs are ${list(names)}`, 'each sample needs one array for every input, named after it');
      samples.push(Object.fromEntries(names.map((n) => [n, found(`sample${s}/${n}`)])));
    }
    return samples;
  }
  throw usage(`${file} holds ${list(keys)}, but the model's inputs are ${list(names)}`, `name the arrays after the inputs, np.savez(path, ${names.map((n) => (/^[A-Za-z_]\w*$/.test(n) ? `${n}=…` : `**{'${n}': …}`)).join(', ')}), or sample0/NAME, sample1/NAME, … for several samples`);
}

/** Each array checked against its input (dtype, fixed dims), float64 rounded for float32, shapes equal across samples. */
function fitSamples(samples: readonly Record<string, Found>[], inputs: readonly ModelInput[], files: readonly string[]): InputFiles {
  const notes = new Set<string>();
  const shapes: Record<string, readonly number[]> = {};
  const out = samples.map((sample, s) => {
    const fitted: Record<string, NpyArray> = {};
    for (const input of inputs) {
      const { label, file, array } = sample[input.name];
      let a = array;
      if (a.dtype !== input.dtype) {
        if (a.dtype === 'float64' && input.dtype === 'float32') {
          a = roundToFloat32(a);
          notes.add(`${file}: float64 values rounded to float32 for input "${input.name}"`);
        } else {
          const to = NUMPY_TYPE[input.dtype];
          throw usage(`${label} is ${a.dtype}, but input "${input.name}" takes ${input.dtype}`, to ? `convert it: np.save(path, a.astype(${to}))` : undefined);
        }
      }
      if (!fits(a.shape, input.shape)) {
        throw usage(`${label} has shape [${a.shape.join(', ')}], but input "${input.name}" is [${input.shape.join(', ')}]`, `save an array of the input's shape; a graph built from a checkpoint takes the shape --input-shape gives (--input-shape ${a.shape.join('x')})`);
      }
      const first = shapes[input.name];
      if (first === undefined) shapes[input.name] = a.shape;
      else if (first.length !== a.shape.length || first.some((d, i) => d !== a.shape[i])) {
        throw usage(`${label} (sample ${s}) has shape [${a.shape.join(', ')}], but sample 0 gave input "${input.name}" [${first.join(', ')}]`, 'the samples of one check share their shapes; check the other shapes in separate runs');
      }
      fitted[input.name] = a;
    }
    return fitted;
  });
  return { files, samples: out, shapes, notes: [...notes] };
}

/** Whether an array's shape fits the model's: same rank, and equal where the model fixes a size. */
function fits(shape: readonly number[], model: readonly (number | string)[]): boolean {
  if (model.length === 0) return true; // rank unknown
  return model.length === shape.length && model.every((d, i) => typeof d !== 'number' || d === shape[i]);
}

function roundToFloat32(a: NpyArray): NpyArray {
  const src = new Float64Array(a.data.buffer.slice(a.data.byteOffset, a.data.byteOffset + a.data.byteLength));
  const out = Float32Array.from(src);
  return { dtype: 'float32', shape: a.shape, data: new Uint8Array(out.buffer) };
}
