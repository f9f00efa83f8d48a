// What a file is, from its first bytes (and, for output paths, from the extension). Readers check the
// format again in depth; this only routes a file to the right reader with a clear word when none fits.
import * as fs from 'fs';
import * as path from 'path';
import { UserError } from '../errors';
import { kindOf, openRegularFile } from './bytes';

export type InputFormat = 'onnx' | 'safetensors' | 'pth';
export type OutputFormat = 'onnx' | 'safetensors' | 'pth' | 'wts' | 'trt';

export const OUTPUT_EXTENSIONS: Readonly<Record<string, OutputFormat>> = {
  '.onnx': 'onnx',
  '.safetensors': 'safetensors',
  '.pth': 'pth',
  '.pt': 'pth',
  '.wts': 'wts',
  '.plan': 'trt',
  '.engine': 'trt',
};

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
  if (head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) return 'pth';
  // The legacy (pre-1.6) torch.save format is a bare pickle stream.
  if (head[0] === 0x80 && head[1] >= 2 && head[1] <= 5) return 'pth';
  if (n >= 9) {
    const len = head.readBigUInt64LE(0);
    if (len > 1n && len < BigInt(size) && head[8] === 0x7b /* { */) return 'safetensors';
  }
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
