// safetensors: 8-byte little-endian header length, a JSON header, then one contiguous byte buffer.
// The reader checks the whole header against the spec before handing out tensors, which stay file ranges;
// the writer streams one tensor at a time.
import { DType, dtypeFromSafetensors, dtypeInfo, numel } from '../dtype';
import { DecodeError, FormatError, UserError } from '../errors';
import { Tensor, tensorFromRange } from '../tensor';
import { FileSource } from './bytes';
import { printable } from './printable';
import { writeFileAtomic } from './atomic-file';
import { FileSink } from './sink';
import { collectEntries, StateDict, TensorEntries, writeTensorTo } from './state-dict';

const FORMAT = 'a safetensors file';
/** The reference implementation refuses larger headers; so do we. */
export const MAX_HEADER_BYTES = 100_000_000;
/**
 * Tensors one file may hold. The largest models split their weights over many files of a few thousand
 * tensors each; past this a header is a way to make the reader build millions of objects.
 */
export const MAX_TENSORS = 1 << 18;
/** Keys of __metadata__ (a checkpoint has a handful: format, a version...). */
export const MAX_METADATA_KEYS = 1 << 16;
/** JSON values one tensor entry (or __metadata__) may build while it is parsed, before it is checked. */
const MAX_VALUES_PER_ENTRY = 1 << 18;
/** Dtypes the spec defines that the dtype table does not carry. */
const SPEC_ONLY_DTYPES = new Set(['U16', 'U32', 'U64', 'F8_E5M2', 'F8_E4M3', 'F8_E8M0', 'F6_E2M3', 'F6_E3M2', 'F4', 'C64']);

interface HeaderEntry {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
  /** Where the entry starts in the file, for messages. */
  readonly at: number;
}

export function readSafetensors(file: string): StateDict {
  const source = new FileSource(file);
  try {
    return parse(source);
  } catch (e) {
    source.close();
    if (e instanceof DecodeError) throw new FormatError(file, FORMAT, e.message, { offset: e.offset });
    throw e;
  }
}

function parse(source: FileSource): StateDict {
  if (source.length < 8) throw new DecodeError(`file is ${source.length} bytes, too short for the 8-byte header length`, 0);
  const n = new DataView(source.read(0, 8).slice().buffer).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) throw new DecodeError(`header length ${n} is over the ${MAX_HEADER_BYTES}-byte limit`, 0);
  const headerLength = Number(n);
  if (8 + headerLength > source.length) {
    throw new DecodeError(`header length ${headerLength} runs past the end of the ${source.length}-byte file`, 0);
  }
  const header = source.readCopy(8, headerLength);
  const badUtf8 = firstInvalidUtf8(header);
  if (badUtf8 >= 0) throw new DecodeError('header is not valid UTF-8', 8 + badUtf8);
  if (header[0] !== 0x7b) throw new DecodeError("header does not start with '{'", 8);

  const bufferStart = 8 + headerLength;
  const bufferLength = source.length - bufferStart;

  // Each entry is checked as soon as it is parsed and kept only in its checked form: what the header
  // builds stays in proportion to the tensors it declares, whatever else it holds.
  let metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  new JsonParser(header, 8).parseTopEntries((name, value, at) => {
    if (name === '__metadata__') {
      metadata = readMetadata(value, at);
      return;
    }
    if (entries.length === MAX_TENSORS) throw new DecodeError(`header declares more than ${MAX_TENSORS} tensors`, at);
    entries.push(readEntry(name, value, at));
  });

  // Offsets, taken in order, must tile the buffer exactly.
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  for (const e of byOffset) {
    if (e.begin !== expected) {
      const what = e.begin < expected ? 'overlaps the tensor before it' : `leaves a gap: data ends at ${expected} before it`;
      throw new DecodeError(`tensor '${printable(e.name)}' starts at buffer offset ${e.begin}, which ${what}`, e.at);
    }
    if (e.end > bufferLength) {
      throw new DecodeError(`tensor '${printable(e.name)}' ends at buffer offset ${e.end}, past the end of the file's ${bufferLength}-byte buffer`, e.at);
    }
    expected = e.end;
  }
  if (expected !== bufferLength) {
    throw new DecodeError(`tensors cover ${expected} of the ${bufferLength} buffer bytes`, bufferStart + expected);
  }

  const tensors = new Map<string, Tensor>();
  for (const e of entries) {
    tensors.set(e.name, tensorFromRange(e.dtype, e.shape, { source, offset: bufferStart + e.begin, length: e.end - e.begin }));
  }
  return { tensors, metadata, notes: [], close: () => source.close() };
}

function readMetadata(value: JsonValue, at: number): Record<string, string> {
  if (!(value instanceof JsonObject)) throw new DecodeError('__metadata__ is not an object', at);
  if (value.entries.length > MAX_METADATA_KEYS) throw new DecodeError(`__metadata__ has ${value.entries.length} keys, more than ${MAX_METADATA_KEYS}`, at);
  const pairs: Array<[string, string]> = [];
  for (const [k, v, vAt] of value.entries) {
    if (typeof v !== 'string') throw new DecodeError(`__metadata__ value for '${printable(k)}' is not a string`, vAt);
    pairs.push([k, v]);
  }
  return Object.fromEntries(pairs); // defines own properties: a '__proto__' key stays data
}

function readEntry(name: string, value: JsonValue, at: number): HeaderEntry {
  if (!(value instanceof JsonObject)) throw new DecodeError(`entry '${printable(name)}' is not an object`, at);
  const fields = new Map(value.entries.map(([k, v, vAt]) => [k, { v, vAt }]));
  for (const k of fields.keys()) {
    if (k !== 'dtype' && k !== 'shape' && k !== 'data_offsets') throw new DecodeError(`entry '${printable(name)}' has unknown field '${printable(k)}'`, fields.get(k)!.vAt);
  }
  const field = (k: string) => {
    const f = fields.get(k);
    if (!f) throw new DecodeError(`entry '${printable(name)}' has no '${printable(k)}'`, at);
    return f;
  };
  const dt = field('dtype');
  if (typeof dt.v !== 'string') throw new DecodeError(`entry '${printable(name)}': dtype is not a string`, dt.vAt);
  const info = dtypeFromSafetensors(dt.v);
  if (!info) {
    if (SPEC_ONLY_DTYPES.has(dt.v)) throw new UserError(`tensor '${printable(name)}' has dtype ${printable(dt.v, 40)}, which is not supported`, { code: 'UNSUPPORTED' });
    throw new DecodeError(`entry '${printable(name)}' has unknown dtype '${printable(dt.v, 40)}'`, dt.vAt);
  }
  const sh = field('shape');
  const shape = intArray(sh.v, sh.vAt, `entry '${printable(name)}': shape`);
  const off = field('data_offsets');
  const offsets = intArray(off.v, off.vAt, `entry '${printable(name)}': data_offsets`);
  if (offsets.length !== 2) throw new DecodeError(`entry '${printable(name)}': data_offsets has ${offsets.length} numbers, not 2`, off.vAt);
  const [begin, end] = offsets;
  if (end < begin) throw new DecodeError(`entry '${printable(name)}': data_offsets [${begin}, ${end}] end before they begin`, off.vAt);
  let bytes: number;
  try {
    bytes = numel(shape) * info.size;
  } catch {
    throw new DecodeError(`entry '${printable(name)}': shape ${printable(`[${shape}]`, 60)} has more than 2^53 elements`, sh.vAt);
  }
  if (!Number.isSafeInteger(bytes)) throw new DecodeError(`entry '${printable(name)}': shape ${printable(`[${shape}]`, 60)} of ${printable(dt.v, 40)} needs more than 2^53 bytes`, sh.vAt);
  if (end - begin !== bytes) {
    throw new DecodeError(`entry '${printable(name)}': data_offsets [${begin}, ${end}] hold ${end - begin} bytes but shape ${printable(`[${shape}]`, 60)} of ${printable(dt.v, 40)} needs ${bytes}`, off.vAt);
  }
  return { name, dtype: info.dtype, shape, begin, end, at };
}

function intArray(v: JsonValue, at: number, what: string): number[] {
  if (!Array.isArray(v)) throw new DecodeError(`${what} is not an array`, at);
  return v.map((x) => {
    if (!(x instanceof JsonNumber) || !/^(0|[1-9][0-9]*)$/.test(x.raw)) throw new DecodeError(`${what} holds something other than a non-negative integer`, at);
    const big = BigInt(x.raw);
    if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new DecodeError(`${what} holds ${printable(x.raw, 40)}, past 2^53`, x.at);
    return Number(big);
  });
}

// ---- writer ----

export function writeSafetensors(file: string, entries: TensorEntries, metadata?: Readonly<Record<string, string>>): void {
  writeFileAtomic(file, (sink) => writeSafetensorsTo(sink, entries, metadata));
}

/** The safetensors bytes into a sink (a staged file). */
export function writeSafetensorsTo(out: FileSink, entries: TensorEntries, metadata?: Readonly<Record<string, string>>): void {
  const list = collectEntries(entries);
  const parts: string[] = [];
  if (metadata && Object.keys(metadata).length > 0) {
    const meta = Object.entries(metadata).map(([k, v]) => {
      if (typeof v !== 'string') throw new UserError(`metadata value for '${k}' is not a string`, { code: 'BAD_USAGE' });
      return `${JSON.stringify(k)}:${JSON.stringify(v)}`;
    });
    parts.push(`"__metadata__":{${meta.join(',')}}`);
  }
  let offset = 0;
  for (const [name, t] of list) {
    if (name === '__metadata__') throw new UserError("a tensor cannot be named '__metadata__' in safetensors", { code: 'BAD_USAGE' });
    const size = numel(t.shape) * dtypeInfo(t.dtype).size;
    parts.push(`${JSON.stringify(name)}:{"dtype":"${dtypeInfo(t.dtype).safetensors}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${offset + size}]}`);
    offset += size;
  }
  const json = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  const padded = Buffer.alloc(json.length + ((8 - (json.length % 8)) % 8), 0x20);
  json.copy(padded);
  if (padded.length > MAX_HEADER_BYTES) throw new UserError(`safetensors header would be ${padded.length} bytes, over the ${MAX_HEADER_BYTES}-byte limit`, { code: 'UNSUPPORTED' });

  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(padded.length));
  out.expect(out.written + 8 + padded.length + offset);
  out.write(len);
  out.write(padded);
  for (const [, t] of list) {
    writeTensorTo(out, t);
  }
}

// ---- strict JSON over bytes (keeps key order, refuses duplicate keys, reports byte offsets) ----

type JsonValue = null | boolean | string | JsonNumber | JsonValue[] | JsonObject;

class JsonNumber {
  constructor(readonly raw: string, readonly at: number) {}
}

class JsonObject {
  constructor(readonly entries: ReadonlyArray<readonly [string, JsonValue, number]>) {}
}

const MAX_JSON_DEPTH = 64;
const decoder = new TextDecoder('utf-8', { fatal: true });

class JsonParser {
  private pos = 0;
  /** Values built for the top-level entry being parsed. */
  private built = 0;
  constructor(private readonly b: Uint8Array, private readonly base: number) {}

  /**
   * The header: one object, then only spaces (the spec's padding). Its entries go to `onEntry` one at a
   * time, as they are parsed; duplicate keys are refused.
   */
  parseTopEntries(onEntry: (key: string, value: JsonValue, at: number) => void): void {
    this.ws();
    if (this.b[this.pos] !== 0x7b) throw this.fail('header is not a JSON object');
    this.members(0, (key, at) => {
      this.built = 0;
      onEntry(key, this.value(1), at);
    });
    for (; this.pos < this.b.length; this.pos++) {
      if (this.b[this.pos] !== 0x20) throw this.fail('header has bytes after its JSON object that are not space padding');
    }
  }

  private count(): void {
    if (++this.built > MAX_VALUES_PER_ENTRY) throw this.fail(`a header entry holds more than ${MAX_VALUES_PER_ENTRY} JSON values`);
  }

  private fail(reason: string): DecodeError {
    return new DecodeError(reason, this.base + this.pos);
  }

  private ws(): void {
    while (this.pos < this.b.length) {
      const c = this.b[this.pos];
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break;
      this.pos++;
    }
  }

  private value(depth: number): JsonValue {
    if (depth > MAX_JSON_DEPTH) throw this.fail(`header nests deeper than ${MAX_JSON_DEPTH} levels`);
    if (this.pos >= this.b.length) throw this.fail('header JSON ends early');
    this.count();
    const c = this.b[this.pos];
    if (c === 0x7b) return this.object(depth);
    if (c === 0x5b) return this.array(depth);
    if (c === 0x22) return this.string();
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
    for (const [word, v] of [['true', true], ['false', false], ['null', null]] as const) {
      if (this.matches(word)) {
        this.pos += word.length;
        return v;
      }
    }
    throw this.fail(`header is not valid JSON (unexpected '${String.fromCharCode(c)}')`);
  }

  private matches(word: string): boolean {
    for (let i = 0; i < word.length; i++) if (this.b[this.pos + i] !== word.charCodeAt(i)) return false;
    return true;
  }

  private expect(c: number, what: string): void {
    if (this.b[this.pos] !== c) throw this.fail(`header is not valid JSON (expected ${what})`);
    this.pos++;
  }

  private object(depth: number): JsonObject {
    const entries: Array<[string, JsonValue, number]> = [];
    this.members(depth, (key, at) => entries.push([key, this.value(depth + 1), at]));
    return new JsonObject(entries);
  }

  /** An object's members: `member` parses each value (the parser stands on it) and keeps it or not. */
  private members(depth: number, member: (key: string, at: number) => void): void {
    this.pos++;
    const seen = new Set<string>();
    this.ws();
    if (this.b[this.pos] === 0x7d) {
      this.pos++;
      return;
    }
    for (;;) {
      this.ws();
      const at = this.base + this.pos;
      if (this.b[this.pos] !== 0x22) throw this.fail('header is not valid JSON (expected a key)');
      const key = this.string();
      if (seen.has(key)) throw new DecodeError(`header has duplicate key '${printable(key)}'`, at);
      seen.add(key);
      this.ws();
      this.expect(0x3a, "':'");
      this.ws();
      member(key, at);
      this.ws();
      if (this.b[this.pos] === 0x2c) {
        this.pos++;
        continue;
      }
      this.expect(0x7d, "',' or '}'");
      return;
    }
  }

  private array(depth: number): JsonValue[] {
    this.pos++;
    const out: JsonValue[] = [];
    this.ws();
    if (this.b[this.pos] === 0x5d) {
      this.pos++;
      return out;
    }
    for (;;) {
      this.ws();
      out.push(this.value(depth + 1));
      this.ws();
      if (this.b[this.pos] === 0x2c) {
        this.pos++;
        continue;
      }
      this.expect(0x5d, "',' or ']'");
      return out;
    }
  }

  private string(): string {
    const start = ++this.pos;
    let plain = true;
    while (this.pos < this.b.length) {
      const c = this.b[this.pos];
      if (c === 0x22) break;
      if (c < 0x20) throw this.fail('header is not valid JSON (control character in a string)');
      if (c === 0x5c) {
        plain = false;
        this.pos += 2;
      } else this.pos++;
    }
    if (this.pos >= this.b.length) throw this.fail('header JSON ends inside a string');
    const raw = this.b.subarray(start, this.pos);
    this.pos++;
    if (plain) return decoder.decode(raw);
    try {
      // The bytes are valid UTF-8 already; JSON.parse only has to resolve the escapes.
      return JSON.parse(`"${decoder.decode(raw)}"`) as string;
    } catch {
      throw new DecodeError('header is not valid JSON (bad escape in a string)', this.base + start);
    }
  }

  private number(): JsonNumber {
    const start = this.pos;
    while (this.pos < this.b.length && /[-+0-9.eE]/.test(String.fromCharCode(this.b[this.pos]))) this.pos++;
    const raw = String.fromCharCode(...this.b.subarray(start, this.pos));
    if (!/^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$/.test(raw)) throw new DecodeError(`header is not valid JSON (bad number '${printable(raw, 40)}')`, this.base + start);
    return new JsonNumber(raw, this.base + start);
  }
}

/** Offset of the first byte that breaks UTF-8 (overlongs, surrogates and values past U+10FFFF included), or -1. */
function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    let cp: number;
    if (c >= 0xc2 && c <= 0xdf) [need, min, cp] = [1, 0x80, c & 0x1f];
    else if (c >= 0xe0 && c <= 0xef) [need, min, cp] = [2, 0x800, c & 0x0f];
    else if (c >= 0xf0 && c <= 0xf4) [need, min, cp] = [3, 0x10000, c & 0x07];
    else return i;
    for (let k = 1; k <= need; k++) {
      const cc = b[i + k];
      if (cc === undefined || (cc & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}
