// The check's inputs and outputs saved for replaying elsewhere (numpy.load, torch.from_numpy), when the
// user names the files. Inputs: NAME, or sampleK/NAME with several samples (the layout input files are
// read in); results: reference/NAME and candidate/NAME, under sampleK/ with several samples. Each array
// keeps its dtype (a float16 output stays float16). The files are written once, after the last sample,
// each atomically; they are outputs like a conversion's.
import * as path from 'path';
import type { Tensor } from 'onnxruntime-node';
import { DType, DTYPES } from '../dtype';
import { UserError } from '../errors';
import { checkOutputPath } from '../formats/atomic-file';
import type { NpyArray } from '../formats/npy';
import { writeNpz } from '../formats/npz';

export interface SaveTargets {
  /** .npz for the inputs fed to the reference, every sample. */
  readonly inputs?: string;
  /** .npz for the reference's and candidate's outputs, every sample. */
  readonly results?: string;
}

export interface SavedFiles {
  readonly inputs?: string;
  readonly results?: string;
  /** Arrays that could not be saved (no numpy dtype), said once each. */
  readonly skipped?: readonly string[];
}

interface Sample {
  readonly inputs: Readonly<Record<string, Tensor>>;
  readonly reference: Readonly<Record<string, Tensor>>;
  readonly candidate: Readonly<Record<string, Tensor>>;
}

/** Checks the targets before the check runs: .npz names, distinct, writable, not one of `reading`. */
export function checkSaveTargets(t: SaveTargets, reading: readonly string[]): void {
  const named: [string, string][] = [];
  if (t.inputs !== undefined) named.push(['--save-inputs (saveInputs)', t.inputs]);
  if (t.results !== undefined) named.push(['--save-results (saveResults)', t.results]);
  for (const [flag, file] of named) {
    if (!file.endsWith('.npz')) throw new UserError(`${flag} ${file}: the file is an .npz archive`, { code: 'BAD_USAGE', hint: `name it ${file.replace(/\.npy$/, '')}.npz` });
    if (reading.some((r) => path.resolve(r) === path.resolve(file))) throw new UserError(`${flag} ${file} would overwrite a file the check reads`, { code: 'BAD_USAGE', hint: 'name another file' });
    checkOutputPath(file);
  }
  if (named.length === 2 && path.resolve(named[0][1]) === path.resolve(named[1][1])) {
    throw new UserError(`--save-inputs and --save-results name the same file, ${named[0][1]}`, { code: 'BAD_USAGE', hint: 'name two files' });
  }
}

/** Keeps each sample's tensors until `write`. */
export class SampleRecorder {
  private readonly samples: Sample[] = [];
  constructor(private readonly targets: SaveTargets) {}

  add(inputs: Readonly<Record<string, Tensor>>, reference: Readonly<Record<string, Tensor>>, candidate: Readonly<Record<string, Tensor>>): void {
    this.samples.push({ inputs, reference, candidate });
  }

  write(): SavedFiles {
    const several = this.samples.length > 1;
    const prefix = (k: number) => (several ? `sample${k}/` : '');
    const skipped = new Set<string>();
    const arrays = (pick: (s: Sample) => Readonly<Record<string, Tensor>>[], groups: readonly string[]) => {
      const out: [string, NpyArray][] = [];
      this.samples.forEach((s, k) => {
        pick(s).forEach((tensors, g) => {
          for (const [name, t] of Object.entries(tensors)) {
            const key = `${prefix(k)}${groups[g]}${name}`;
            const a = npyArrayOf(t);
            if (a) out.push([key, a]);
            else skipped.add(`${groups[g]}${name} (${t.type})`);
          }
        });
      });
      return out;
    };
    const saved: { inputs?: string; results?: string; skipped?: string[] } = {};
    if (this.targets.inputs !== undefined) {
      writeNpz(this.targets.inputs, arrays((s) => [s.inputs], ['']));
      saved.inputs = this.targets.inputs;
    }
    if (this.targets.results !== undefined) {
      writeNpz(this.targets.results, arrays((s) => [s.reference, s.candidate], ['reference/', 'candidate/']));
      saved.results = this.targets.results;
    }
    if (skipped.size > 0) saved.skipped = [...skipped];
    return saved;
  }
}

/** A tensor's elements as an .npy array (a view, no copy); undefined for types numpy files do not hold here. */
function npyArrayOf(t: Tensor): NpyArray | undefined {
  const info = DTYPES.get(t.type as DType);
  const data = t.data;
  if (!info?.npy || !ArrayBuffer.isView(data)) return undefined;
  return { dtype: info.dtype, shape: [...t.dims], data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}
