// numpy's .npy format: the magic "\x93NUMPY", a version (1.0, 2.0 or 3.0), the header's length (2 bytes
// in 1.0, 4 after), a header that is a Python dict literal {'descr': '<f4', 'fortran_order': False,
// 'shape': (1, 3), } padded with spaces to a multiple of 64 bytes and ending in '\n' (latin-1 text, UTF-8
// in 3.0), then the elements in C order. The header is parsed as a literal, strictly: exactly those
// three keys, nothing evaluated. Arrays come back with little-endian element bytes; a big-endian file is
// swapped once when read. The writer produces the bytes numpy's np.save writes for the same array.
import { DType, dtypeFromNpy, DTypeInfo, dtypeInfo, numel } from '../dtype';
import { DecodeError, FormatError, UserError } from '../errors';
import { ByteSource, FileSource } from './bytes';
import { printable } from './printable';

export const NPY_FORMAT = 'a .npy array';

const MAGIC = Buffer.from('\x93NUMPY', 'latin1');
/** numpy itself refuses headers past 10000 bytes unless told otherwise; a shape never needs more. */
export const MAX_NPY_HEADER = 1 << 16;
/** numpy aligns the data to 64 bytes. */
const ALIGN = 64;
/** numpy leaves room in the header for the first dimension to grow to this many digits. */
const GROWTH_DIGITS = 21;

export type NpyVersion = 1 | 2 | 3;

export interface NpyHeader {
  readonly version: NpyVersion;
  readonly dtype: DType;
  readonly bigEndian: boolean;
  readonly shape: readonly number[];
  /** First byte of the elements. */
  readonly dataOffset: number;
  /** Bytes of element data: numel(shape) * the dtype's size. */
  readonly dataBytes: number;
}

export interface NpyArray {
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** The elements in C order, little-endian. */
  readonly data: Uint8Array;
}

const SUPPORTED = (): string =>
  ['f2', 'f4', 'f8', 'i1', 'i2', 'i4', 'i8', 'u1', 'b1'].map((c) => `${c} (${dtypeFromNpy(c)!.dtype})`).join(', ');

/** What numpy calls a few dtypes this reader does not take, for messages. */
const NUMPY_NAMES: Readonly<Record<string, string>> = {
  u2: 'uint16', u4: 'uint32', u8: 'uint64', c8: 'complex64', c16: 'complex128', f16: 'float128', f12: 'float96', V2: 'void (bfloat16 through ml_dtypes?)',
};

/** Parses and checks the header; reads nothing past it. */
export function readNpyHeader(src: ByteSource): NpyHeader {
  if (src.length < MAGIC.length + 4) throw new DecodeError(`${src.length} bytes is too short for the magic and header length`, 0);
  const start = src.read(0, MAGIC.length + 2);
  if (Buffer.compare(Buffer.from(start.subarray(0, MAGIC.length)), MAGIC) !== 0) throw new DecodeError('no \\x93NUMPY magic', 0);
  const [major, minor] = [start[6], start[7]];
  if (!(major >= 1 && major <= 3) || minor !== 0) throw new DecodeError(`format version ${major}.${minor} is not 1.0, 2.0 or 3.0`, 6);
  const version = major as NpyVersion;
  const lengthBytes = version === 1 ? 2 : 4;
  if (src.length < 8 + lengthBytes) throw new DecodeError('the header length is cut off', 8);
  const lb = src.read(8, lengthBytes);
  const headerLength = version === 1 ? lb[0] | (lb[1] << 8) : (lb[0] | (lb[1] << 8) | (lb[2] << 16)) + lb[3] * 2 ** 24;
  const headerAt = 8 + lengthBytes;
  if (headerLength > MAX_NPY_HEADER) throw new DecodeError(`a header of ${headerLength} bytes is longer than the ${MAX_NPY_HEADER} allowed`, 8);
  if (headerAt + headerLength > src.length) throw new DecodeError(`the header of ${headerLength} bytes runs past the end of the file (${src.length} bytes)`, 8);
  const raw = src.read(headerAt, headerLength);
  let text: string;
  if (version === 3) {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
    } catch {
      throw new DecodeError('the header is not UTF-8 text', headerAt);
    }
  } else text = Buffer.from(raw).toString('latin1');
  if (!text.endsWith('\n')) throw new DecodeError('the header does not end with a newline', headerAt + headerLength - 1);

  const fields = parseHeader(text, headerAt);
  const { dtype, bigEndian } = parseDescr(fields.descr, headerAt, src.name);
  if (fields.fortran_order !== false) {
    throw new UserError(`${src.name} holds its array in Fortran (column-major) order, which is not read here`, {
      code: 'UNSUPPORTED',
      hint: 'save it in C order: np.save(path, np.ascontiguousarray(a))',
    });
  }
  const shape = fields.shape;
  const dataOffset = headerAt + headerLength;
  let dataBytes: number;
  try {
    dataBytes = numel(shape) * dtypeInfo(dtype).size;
  } catch (e) {
    throw new DecodeError(`shape (${shape.join(', ')}) is too large (${(e as Error).message})`, headerAt);
  }
  if (!Number.isSafeInteger(dataBytes)) throw new DecodeError(`shape (${shape.join(', ')}) is too large`, headerAt);
  return { version, dtype, bigEndian, shape, dataOffset, dataBytes };
}

/** Header and elements; the file must hold exactly the elements its header declares. */
export function readNpy(src: ByteSource): NpyArray {
  const h = readNpyHeader(src);
  const have = src.length - h.dataOffset;
  if (have !== h.dataBytes) {
    const what = `${h.dtype} (${h.shape.join(', ')}) needs ${h.dataBytes} bytes of data but the file has ${have}`;
    throw new DecodeError(have < h.dataBytes ? `${what} (truncated?)` : `${what} (more than one array in the file?)`, h.dataOffset);
  }
  let data: Uint8Array;
  if (src.readCopy) data = src.readCopy(h.dataOffset, h.dataBytes);
  else (data = new Uint8Array(h.dataBytes)).set(src.read(h.dataOffset, h.dataBytes));
  const size = dtypeInfo(h.dtype).size;
  if (h.bigEndian && size > 1) swapBytes(data, size);
  if (h.dtype === 'bool') {
    const bad = data.findIndex((b) => b > 1);
    if (bad >= 0) throw new DecodeError(`bool element ${bad} is ${data[bad]}, not 0 or 1`, h.dataOffset + bad);
  }
  return { dtype: h.dtype, shape: h.shape, data };
}

/** Reverses the bytes of each `size`-byte element in place. */
export function swapBytes(data: Uint8Array, size: number): void {
  for (let i = 0; i + size <= data.length; i += size) {
    for (let a = i, b = i + size - 1; a < b; a++, b--) {
      const t = data[a];
      data[a] = data[b];
      data[b] = t;
    }
  }
}

export interface NpyWriteOptions {
  /** Default: 1.0, or 2.0 when the header needs more than 65535 bytes (as numpy chooses). */
  readonly version?: NpyVersion;
}

/** The header numpy's np.save writes for a C-order little-endian array of this dtype and shape. */
export function npyHeader(dtype: DType, shape: readonly number[], options: NpyWriteOptions = {}): Uint8Array {
  const info = npyInfo(dtype);
  const descr = `${info.size === 1 ? '|' : '<'}${info.npy}`;
  const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${tuple}, }`;
  if (shape.length > 0) dict += ' '.repeat(Math.max(0, GROWTH_DIGITS - String(shape[0]).length));
  const text = Buffer.from(dict, options.version === 3 ? 'utf8' : 'latin1');
  const wrap = (version: NpyVersion): Uint8Array | undefined => {
    const lengthBytes = version === 1 ? 2 : 4;
    const withNewline = text.length + 1;
    const pad = ALIGN - ((MAGIC.length + 2 + lengthBytes + withNewline) % ALIGN);
    const headerLength = withNewline + pad;
    if (version === 1 && headerLength > 0xffff) return undefined;
    const out = Buffer.alloc(MAGIC.length + 2 + lengthBytes + headerLength, 0x20);
    MAGIC.copy(out, 0);
    out[6] = version;
    out[7] = 0;
    if (version === 1) out.writeUInt16LE(headerLength, 8);
    else out.writeUInt32LE(headerLength, 8);
    text.copy(out, 8 + lengthBytes);
    out[out.length - 1] = 0x0a;
    return new Uint8Array(out.buffer, out.byteOffset, out.length);
  };
  if (options.version !== undefined) {
    const h = wrap(options.version);
    if (!h) throw new RangeError(`a header of ${text.length} bytes does not fit npy version 1.0`);
    return h;
  }
  return wrap(1) ?? wrap(2)!;
}

/** A whole .npy file: the header, then `data` (little-endian elements in C order). */
export function npyBytes(array: NpyArray, options: NpyWriteOptions = {}): Uint8Array {
  const expected = numel(array.shape) * dtypeInfo(array.dtype).size;
  if (array.data.length !== expected) throw new RangeError(`${array.dtype} (${array.shape.join(', ')}) needs ${expected} bytes, not ${array.data.length}`);
  const header = npyHeader(array.dtype, array.shape, options);
  const out = new Uint8Array(header.length + array.data.length);
  out.set(header, 0);
  out.set(array.data, header.length);
  return out;
}

/** The dtype's row, refusing the one numpy has no type for. */
function npyInfo(dtype: DType): DTypeInfo & { npy: string } {
  const info = dtypeInfo(dtype);
  if (info.npy === undefined) throw new UserError(`${dtype} has no numpy dtype, so it cannot be saved as .npy`, { code: 'UNSUPPORTED', hint: 'convert it to float32 first' });
  return info as DTypeInfo & { npy: string };
}

// --- the header literal ----------------------------------------------------------------------

class Tuple {
  constructor(readonly items: readonly Literal[]) {}
}

type Literal = string | number | boolean | null | readonly Literal[] | Tuple | ReadonlyMap<string, Literal>;

interface HeaderFields {
  readonly descr: Literal;
  readonly fortran_order: Literal;
  readonly shape: readonly number[];
}

const KEYS = ['descr', 'fortran_order', 'shape'] as const;

function parseHeader(text: string, at: number): HeaderFields {
  const p = new LiteralParser(text, at);
  p.space();
  const value = p.value();
  p.space();
  if (p.pos < text.length) throw p.error(`unexpected ${printable(JSON.stringify(text.slice(p.pos, p.pos + 10)))} after the header's dict`);
  if (!(value instanceof Map)) throw new DecodeError(`the header is not a dict literal (it starts with ${printable(JSON.stringify(text.slice(0, 20)))})`, at);
  for (const key of value.keys()) {
    if (!(KEYS as readonly string[]).includes(key)) throw new DecodeError(`the header has an unknown key '${printable(key)}' (a .npy header has exactly ${KEYS.map((k) => `'${k}'`).join(', ')})`, at);
  }
  for (const key of KEYS) if (!value.has(key)) throw new DecodeError(`the header has no '${key}'`, at);
  const shape = value.get('shape')!;
  if (!(shape instanceof Tuple) || !shape.items.every((d) => typeof d === 'number')) {
    throw new DecodeError(`'shape' is ${describeLiteral(shape)}, not a tuple of integers`, at);
  }
  const fortran = value.get('fortran_order')!;
  if (typeof fortran !== 'boolean') throw new DecodeError(`'fortran_order' is ${describeLiteral(fortran)}, not True or False`, at);
  return { descr: value.get('descr')!, fortran_order: fortran, shape: shape.items as number[] };
}

function describeLiteral(v: Literal): string {
  if (v === null) return 'None';
  if (typeof v === 'string') return `the string '${printable(v, 40)}'`;
  if (typeof v === 'number') return `the number ${v}`;
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (v instanceof Map) return 'a dict';
  if (Array.isArray(v)) return 'a list';
  return 'a tuple';
}

/** descr '<f4' → float32, little-endian; what numpy writes for other dtypes gets a message saying what it is. */
function parseDescr(descr: Literal, at: number, file: string): { dtype: DType; bigEndian: boolean } {
  if (Array.isArray(descr)) {
    throw new UserError(`${file} holds a structured (record) array, which is not read here`, {
      code: 'UNSUPPORTED',
      hint: "save each field as its own plain array: np.savez(path, x=a['x'], y=a['y'])",
    });
  }
  if (typeof descr !== 'string') throw new DecodeError(`'descr' is ${describeLiteral(descr)}, not a dtype string`, at);
  const m = /^([<>|=])([a-zA-Z])(\d*)(\[\w+\])?$/.exec(descr);
  if (!m) throw new DecodeError(`'descr' '${printable(descr, 40)}' is not a numpy dtype`, at);
  const [, order, kind, size] = m;
  if (kind === 'O') {
    throw new UserError(`${file} holds Python objects (dtype '${descr}'), which would need unpickling and are never loaded`, {
      code: 'UNSUPPORTED',
      hint: 'save a numeric array instead: np.save(path, np.asarray(a, dtype=np.float32))',
    });
  }
  const code = `${kind}${size}`;
  const info = dtypeFromNpy(code);
  if (!info) {
    const known = NUMPY_NAMES[code] ? ` (${NUMPY_NAMES[code]})` : '';
    throw new UserError(`${file} holds dtype '${printable(descr, 40)}'${known}, which is not read here; the dtypes read are ${SUPPORTED()}`, {
      code: 'UNSUPPORTED',
      hint: 'convert it first, e.g. np.save(path, a.astype(np.float32))',
    });
  }
  if (order === '|' && info.size > 1) throw new DecodeError(`'descr' '${descr}' gives no byte order for a ${info.size}-byte type`, at);
  const bigEndian = order === '>' || (order === '=' && nativeBigEndian());
  return { dtype: info.dtype, bigEndian };
}

function nativeBigEndian(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 0;
}

/** Python literals as numpy's headers use them: dicts, tuples, lists, strings, integers, True/False/None. */
class LiteralParser {
  pos = 0;
  private depth = 0;
  constructor(private readonly text: string, private readonly at: number) {}

  error(reason: string): DecodeError {
    return new DecodeError(`header: ${reason} at character ${this.pos}`, this.at + this.pos);
  }

  space(): void {
    while (this.pos < this.text.length && ' \t\r\n'.includes(this.text[this.pos])) this.pos++;
  }

  private expect(c: string): void {
    this.space();
    if (this.text[this.pos] !== c) throw this.error(`expected '${c}', found ${this.found()}`);
    this.pos++;
  }

  private found(): string {
    return this.pos >= this.text.length ? 'the end' : `'${printable(this.text[this.pos])}'`;
  }

  value(): Literal {
    this.space();
    if (++this.depth > 8) throw this.error('literal nested too deeply');
    try {
      const c = this.text[this.pos];
      if (c === '{') return this.dict();
      if (c === '(' || c === '[') return this.sequence(c);
      if (c === "'" || c === '"') return this.string();
      if (c !== undefined && /[-+0-9]/.test(c)) return this.integer();
      for (const [word, v] of [['True', true], ['False', false], ['None', null]] as const) {
        if (this.text.startsWith(word, this.pos) && !/\w/.test(this.text[this.pos + word.length] ?? '')) {
          this.pos += word.length;
          return v;
        }
      }
      throw this.error(`unexpected ${this.found()}`);
    } finally {
      this.depth--;
    }
  }

  private dict(): ReadonlyMap<string, Literal> {
    this.pos++;
    const out = new Map<string, Literal>();
    for (;;) {
      this.space();
      if (this.text[this.pos] === '}') {
        this.pos++;
        return out;
      }
      const keyAt = this.pos;
      const key = this.value();
      if (typeof key !== 'string') throw new DecodeError(`header: a dict key is not a string at character ${keyAt}`, this.at + keyAt);
      if (out.has(key)) throw new DecodeError(`header: key '${printable(key)}' appears twice at character ${keyAt}`, this.at + keyAt);
      this.expect(':');
      out.set(key, this.value());
      this.space();
      if (this.text[this.pos] === ',') this.pos++;
      else if (this.text[this.pos] !== '}') throw this.error(`expected ',' or '}', found ${this.found()}`);
    }
  }

  private sequence(open: '(' | '['): Literal {
    const close = open === '(' ? ')' : ']';
    this.pos++;
    const items: Literal[] = [];
    let trailingComma = false;
    for (;;) {
      this.space();
      if (this.text[this.pos] === close) {
        this.pos++;
        break;
      }
      items.push(this.value());
      this.space();
      trailingComma = this.text[this.pos] === ',';
      if (trailingComma) this.pos++;
      else if (this.text[this.pos] !== close) throw this.error(`expected ',' or '${close}', found ${this.found()}`);
    }
    if (open === '[') return items;
    // (x) is x in Python, not a tuple
    if (items.length === 1 && !trailingComma) return items[0];
    return new Tuple(items);
  }

  private string(): string {
    const quote = this.text[this.pos];
    const end = this.text.indexOf(quote, this.pos + 1);
    if (end < 0) throw this.error('unterminated string');
    const s = this.text.slice(this.pos + 1, end);
    if (s.includes('\\') || s.includes('\n')) throw this.error('escapes and newlines in strings are not part of a .npy header');
    this.pos = end + 1;
    return s;
  }

  private integer(): number {
    const m = /^[-+]?\d+L?/.exec(this.text.slice(this.pos, this.pos + 40));
    if (!m) throw this.error(`unexpected ${this.found()}`);
    const digits = m[0].replace(/L$/, '');
    const v = Number(digits);
    if (!Number.isSafeInteger(v) || v < 0) throw this.error(`${printable(digits, 30)} is not a dimension (a whole number from 0 to 2^53)`);
    if (/[.eExX_]/.test(this.text[this.pos + m[0].length] ?? '')) throw this.error('only whole numbers appear in a .npy header');
    this.pos += m[0].length;
    return v;
  }
}

/** A .npy file, whole; a file that is not one says so (FormatError, exit 2). */
export function readNpyFile(file: string): NpyArray {
  const src = new FileSource(file);
  try {
    return readNpy(src);
  } catch (e) {
    if (e instanceof DecodeError) throw new FormatError(file, NPY_FORMAT, e.message, { offset: e.offset });
    throw e;
  } finally {
    src.close();
  }
}
