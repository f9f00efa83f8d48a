// The one format registry: each format the tool reads or writes, with its extensions, how its first
// bytes look, and (for weight files) how to read and stage one. Input files are told by their first
// bytes, outputs by their extension (or --to). Readers check their format again in depth; this routes a
// file to the right one with a clear word when none fits. Readers and writers load on first use.
import * as fs from 'fs';
import * as path from 'path';
import { UserError } from '../errors';
import type { Tensor } from '../tensor';
import type { StageOptions, StagedFile } from './atomic-file';
import { kindOf, openRegularFile } from './bytes';
import type { StateDict } from './state-dict';
import { STAMP_KEY, StampPlace } from './stamp';

export type FormatName = 'onnx' | 'safetensors' | 'pth' | 'wts' | 'trt';
export type InputFormat = 'onnx' | 'safetensors' | 'pth';
export type OutputFormat = FormatName;
/** Formats that hold named weights (a state dict), not a graph. */
export type WeightsFormat = 'safetensors' | 'pth' | 'wts';

export interface WeightsIo {
  read(file: string, options: { readonly entry?: string }): StateDict;
  stage(target: string, tensors: ReadonlyMap<string, Tensor>, metadata: Readonly<Record<string, string>>, options: StageWeightsOptions): StagedFile<number>;
}

export interface StageWeightsOptions extends StageOptions {
  /** A stamp (stamp.ts) to carry in the format's own place. */
  readonly stamp?: string;
}

/** Where a format keeps its stamp, and how to read it back. */
export interface StampIo {
  readonly place: StampPlace;
  /** The stamp sits JSON-escaped inside another JSON text (safetensors' header). */
  readonly escaped?: boolean;
  read(file: string): string | undefined;
}

export interface FormatEntry {
  readonly name: FormatName;
  /** Output extensions that pick this format, the first the usual one. */
  readonly extensions: readonly string[];
  /** What a file of it is, in words: "a safetensors checkpoint". */
  readonly described: string;
  /** Whether the first bytes say a file is of this format (input formats only). */
  readonly sniff?: (head: Buffer, read: number, size: number) => boolean;
  /** Weight formats: read and stage. */
  readonly weights?: () => WeightsIo;
  /** Output formats: where the stamp sits (stamp.ts); .wts has no room for one. */
  readonly stamp?: StampIo;
}

const metadataStamp = (format: 'pth' | 'safetensors') => (file: string): string | undefined => {
  const sd = readWeights(file, format);
  try {
    return sd.metadata[STAMP_KEY];
  } finally {
    sd.close?.();
  }
};

const ZIP = (h: Buffer, n: number) => n >= 4 && h[0] === 0x50 && h[1] === 0x4b && h[2] === 0x03 && h[3] === 0x04;
// The legacy (pre-1.6) torch.save format is a bare pickle stream.
const PICKLE = (h: Buffer, n: number) => n >= 2 && h[0] === 0x80 && h[1] >= 2 && h[1] <= 5;

export const FORMATS: Readonly<Record<FormatName, FormatEntry>> = {
  pth: {
    name: 'pth',
    extensions: ['.pth', '.pt'],
    described: 'a PyTorch checkpoint',
    sniff: (h, n) => ZIP(h, n) || PICKLE(h, n),
    weights: () => {
      const pth = require('./pth') as typeof import('./pth');
      const { writePthTo } = require('./pth/write-pth') as typeof import('./pth/write-pth');
      const { stageFile } = require('./atomic-file') as typeof import('./atomic-file');
      return {
        read: (file, o) => pth.readPth(file, o),
        stage: (target, tensors, _metadata, o) =>
          stageFile(target, (sink) => (writePthTo(sink, tensors, { archiveName: path.basename(target).replace(/\.[^.]*$/, ''), stamp: o.stamp }), sink.written), o),
      };
    },
    stamp: { place: 'zip-entry', read: metadataStamp('pth') },
  },
  safetensors: {
    name: 'safetensors',
    extensions: ['.safetensors'],
    described: 'a safetensors checkpoint',
    sniff: (h, n, size) => {
      if (n < 9) return false;
      const len = h.readBigUInt64LE(0);
      return len > 1n && len < BigInt(size) && h[8] === 0x7b; /* { */
    },
    weights: () => {
      const st = require('./safetensors') as typeof import('./safetensors');
      const { stageFile } = require('./atomic-file') as typeof import('./atomic-file');
      return {
        read: (file) => st.readSafetensors(file),
        stage: (target, tensors, metadata, o) =>
          stageFile(target, (sink) => (st.writeSafetensorsTo(sink, tensors, o.stamp === undefined ? metadata : { ...metadata, [STAMP_KEY]: o.stamp }), sink.written), o),
      };
    },
    stamp: { place: 'head', escaped: true, read: metadataStamp('safetensors') },
  },
  wts: {
    name: 'wts',
    extensions: ['.wts'],
    described: 'TensorRT weights (.wts)',
    weights: () => {
      const wts = require('./wts') as typeof import('./wts');
      const { stageFile } = require('./atomic-file') as typeof import('./atomic-file');
      return {
        read: (file) => wts.readWts(file),
        stage: (target, tensors, _metadata, o) => stageFile(target, (sink) => (wts.writeWtsTo(sink, tensors), sink.written), o),
      };
    },
  },
  onnx: {
    name: 'onnx',
    extensions: ['.onnx'],
    described: 'an ONNX model',
    stamp: { place: 'tail', read: (file) => (require('./onnx/metadata') as typeof import('./onnx/metadata')).onnxMetadata(file)[STAMP_KEY] },
  },
  trt: { name: 'trt', extensions: ['.plan', '.engine'], described: 'a TensorRT plan' },
};

export const OUTPUT_EXTENSIONS: Readonly<Record<string, OutputFormat>> = Object.fromEntries(
  Object.values(FORMATS).flatMap((f) => f.extensions.map((e) => [e, f.name] as const)),
);

/** Reads a weights file (a state dict) of `format`. */
export function readWeights(file: string, format: FormatName, options: { readonly entry?: string } = {}): StateDict {
  const io = FORMATS[format].weights;
  if (!io) throw new UserError(`${file} is ${FORMATS[format].described}, not a weights file`, { code: 'BAD_USAGE' });
  return io().read(file, options);
}

/** Stages named tensors as a weights file of `format` beside `target`; the caller commits or aborts. */
export function stageWeights(target: string, format: FormatName, tensors: ReadonlyMap<string, Tensor>, metadata: Readonly<Record<string, string>>, options: StageWeightsOptions = {}): StagedFile<number> {
  const io = FORMATS[format].weights;
  if (!io) throw new UserError(`weights cannot be written as ${FORMATS[format].described}`, { code: 'UNSUPPORTED', hint: 'use .safetensors, .pth or .wts' });
  return io().stage(target, tensors, metadata, options);
}

/** Checks that a path is a readable regular file; says what it is otherwise. */
export function requireFile(file: string, role: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`${role} ${file} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code})`}`, { code: 'BAD_USAGE' });
  }
  if (st.isDirectory()) throw new UserError(`${role} ${file} is a directory, not a model file`, { code: 'BAD_USAGE', hint: 'name the .onnx, .safetensors or .pth file inside it' });
  if (!st.isFile()) throw new UserError(`${role} ${file} is ${kindOf(st)}, not a regular file`, { code: 'BAD_USAGE', hint: 'save the model to a regular file and name that' });
}

export function detectInputFormat(file: string): InputFormat {
  requireFile(file, 'input');
  const { fd, size } = openRegularFile(file, `input ${file}`);
  const head = Buffer.alloc(16);
  let n: number;
  try {
    n = fs.readSync(fd, head, 0, 16, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (n === 0) throw new UserError(`${file} is empty: it is not a model file`);
  if (FORMATS.pth.sniff!(head, n, size)) return 'pth';
  if (FORMATS.safetensors.sniff!(head, n, size)) return 'safetensors';
  const ext = path.extname(file).toLowerCase();
  if (ext === '.safetensors') return 'safetensors';
  if (ext === '.pth' || ext === '.pt' || ext === '.bin' || ext === '.ckpt') return 'pth';
  return 'onnx';
}

export function outputFormatFor(file: string, to?: string): OutputFormat {
  if (to) {
    const f = (to === 'plan' || to === 'engine' ? 'trt' : to) as OutputFormat;
    if (!Object.values(OUTPUT_EXTENSIONS).includes(f)) throw new UserError(`--to ${to} is not an output format`, { code: 'BAD_USAGE', hint: 'use one of onnx, safetensors, pth, wts, trt' });
    return f;
  }
  const ext = path.extname(file).toLowerCase();
  const f = OUTPUT_EXTENSIONS[ext];
  if (!f) {
    throw new UserError(`cannot tell the output format from "${ext || 'no extension'}" in ${file}`, {
      code: 'BAD_USAGE',
      hint: `end the output in ${Object.keys(OUTPUT_EXTENSIONS).join(', ')}, or pass --to`,
    });
  }
  return f;
}

export function samePath(a: string, b: string): boolean {
  const real = (p: string) => {
    try {
      return fs.realpathSync(p);
    } catch {
      // the output may not exist yet; compare its resolved path
      return path.resolve(p);
    }
  };
  return real(a) === real(b);
}
