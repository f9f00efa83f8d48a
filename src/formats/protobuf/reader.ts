// Protobuf wire-format walk over a lazy byte source. Nothing is decoded until a field is asked for,
// and length-delimited fields are kept as ranges so that big tensors are skipped, not read.
import { ByteSource } from '../bytes';
import { DecodeError } from '../../errors';

export const enum Wire {
  Varint = 0,
  Fixed64 = 1,
  Bytes = 2,
  StartGroup = 3,
  EndGroup = 4,
  Fixed32 = 5,
}

export interface Field {
  readonly no: number;
  readonly wire: Wire;
  /** Offset of the tag: [start, end) is the whole field as it stands in the file. */
  readonly start: number;
  readonly end: number;
  /** For Bytes: offset of the payload; its length is end - valueStart. */
  readonly valueStart: number;
  /** For Varint, Fixed32 and Fixed64: the raw value. */
  readonly value: bigint;
}

const MAX_DEPTH = 64;
/** Bytes the reader reads at once: a walk over a message costs one read per window, not one per field. */
const WINDOW = 16 << 10;
/** Small values as bigints, made once (most tags, lengths and enum values). */
const SMALL = Array.from({ length: 1024 }, (_, i) => BigInt(i));
const big = (n: number): bigint => (n < 1024 ? SMALL[n] : BigInt(n));

export class ProtoReader {
  private buf: Buffer = Buffer.alloc(0);
  private bufStart = 0;
  /** Where the last varint read ended. */
  private next = 0;

  constructor(readonly source: ByteSource) {}

  /** The byte at p, which the caller has checked is inside the source. */
  private byte(p: number): number {
    const i = p - this.bufStart;
    if (i >= 0 && i < this.buf.length) return this.buf[i];
    const b = this.source.read(p, Math.min(WINDOW, this.source.length - p));
    this.buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    this.bufStart = p;
    return this.buf[0];
  }

  /**
   * A varint at p, before `end`, as a number when it is below 2^49 (7 bytes), else -1 (read it with
   * `varint`); sets `next` past it.
   */
  private smallVarint(p: number, end: number): number {
    let v = 0;
    let scale = 1;
    for (let i = 0; i < 7 && p + i < end; i++) {
      const b = this.byte(p + i);
      v += (b & 0x7f) * scale;
      if (!(b & 0x80)) {
        this.next = p + i + 1;
        return v;
      }
      scale *= 128;
    }
    return -1;
  }

  /** All fields of the message stored in [start, end). Throws DecodeError where the bytes do not parse. */
  fields(start: number, end: number): Field[] {
    const out: Field[] = [];
    let p = start;
    while (p < end) {
      const tagStart = p;
      let no: number;
      let wire: Wire;
      const t = this.smallVarint(p, end);
      if (t >= 0) {
        no = Math.floor(t / 8);
        wire = (t % 8) as Wire;
        p = this.next;
      } else {
        const [tag, afterTag] = this.varint(p, end);
        no = Number(tag >> 3n);
        wire = Number(tag & 7n) as Wire;
        p = afterTag;
      }
      if (no === 0) throw new DecodeError('field number 0', tagStart);
      switch (wire) {
        case Wire.Varint: {
          const small = this.smallVarint(p, end);
          const [v, q] = small >= 0 ? [big(small), this.next] : this.varint(p, end);
          out.push({ no, wire, start: tagStart, end: q, valueStart: p, value: v });
          p = q;
          break;
        }
        case Wire.Fixed64:
        case Wire.Fixed32: {
          const n = wire === Wire.Fixed64 ? 8 : 4;
          if (p + n > end) throw new DecodeError('unexpected end of data', end);
          let v = 0n;
          for (let i = n - 1; i >= 0; i--) v = (v << 8n) | big(this.byte(p + i));
          out.push({ no, wire, start: tagStart, end: p + n, valueStart: p, value: v });
          p += n;
          break;
        }
        case Wire.Bytes: {
          const small = this.smallVarint(p, end);
          const [len, q] = small >= 0 ? [small, this.next] : this.varint(p, end);
          if (len > end - q) throw new DecodeError(`length ${len} runs past the end of its message (${end - q} bytes left)`, p);
          const stop = q + Number(len);
          out.push({ no, wire, start: tagStart, end: stop, valueStart: q, value: big(Number(len)) });
          p = stop;
          break;
        }
        case Wire.StartGroup: {
          const stop = this.skipGroup(no, p, end, 1);
          out.push({ no, wire, start: tagStart, end: stop, valueStart: p, value: 0n });
          p = stop;
          break;
        }
        default:
          throw new DecodeError(`invalid wire type ${wire}`, tagStart);
      }
    }
    return out;
  }

  private skipGroup(no: number, p: number, end: number, depth: number): number {
    if (depth > MAX_DEPTH) throw new DecodeError('groups nested too deeply', p);
    for (;;) {
      if (p >= end) throw new DecodeError('unterminated group', p);
      const [tag, q] = this.varint(p, end);
      const wire = Number(tag & 7n);
      if (wire === Wire.EndGroup) {
        if (Number(tag >> 3n) !== no) throw new DecodeError('mismatched end of group', p);
        return q;
      }
      p = q;
      if (wire === Wire.Varint) p = this.varint(p, end)[1];
      else if (wire === Wire.Fixed64) p += 8;
      else if (wire === Wire.Fixed32) p += 4;
      else if (wire === Wire.Bytes) {
        const [len, r] = this.varint(p, end);
        p = r + Number(len);
      } else if (wire === Wire.StartGroup) p = this.skipGroup(Number(tag >> 3n), p, end, depth + 1);
      else throw new DecodeError(`invalid wire type ${wire}`, p);
      if (p > end) throw new DecodeError('unexpected end of data', end);
    }
  }

  /** Reads a varint at p; returns [value, next offset]. */
  varint(p: number, end: number): [bigint, number] {
    const avail = Math.min(10, end - p);
    if (avail <= 0) throw new DecodeError('unexpected end of data', p);
    let v = 0n;
    let s = 0n;
    for (let i = 0; i < avail; i++) {
      const b = this.byte(p + i);
      v |= big(b & 0x7f) << s;
      s += 7n;
      if (!(b & 0x80)) return [BigInt.asUintN(64, v), p + i + 1];
    }
    throw new DecodeError(avail < 10 ? 'unexpected end of data' : 'varint longer than 10 bytes', p + avail);
  }

  bytes(f: Field): Uint8Array {
    return this.source.read(f.valueStart, f.end - f.valueStart);
  }

  string(f: Field): string {
    if (f.wire !== Wire.Bytes) throw new DecodeError(`field ${f.no} should be a string`, f.start);
    // Names are short ASCII: straight from the window, without a view of the bytes or a UTF-8 decode.
    const i = f.valueStart - this.bufStart;
    const n = f.end - f.valueStart;
    if (n <= 256 && i >= 0 && i + n <= this.buf.length) {
      let ascii = true;
      for (let k = i; k < i + n; k++) if (this.buf[k] >= 0x80) ascii = false;
      if (ascii) return this.buf.toString('latin1', i, i + n);
    }
    return decodeUtf8(this.bytes(f), f.valueStart);
  }

  /** Packed or unpacked repeated varints of a field number, as signed 64-bit numbers. */
  int64s(fields: readonly Field[], no: number): number[] {
    const out: number[] = [];
    for (const f of fields) {
      if (f.no !== no) continue;
      if (f.wire === Wire.Varint) out.push(toInt64(f.value));
      else if (f.wire === Wire.Bytes) {
        let p = f.valueStart;
        while (p < f.end) {
          const small = this.smallVarint(p, f.end);
          if (small >= 0) {
            out.push(small);
            p = this.next;
            continue;
          }
          const [v, q] = this.varint(p, f.end);
          out.push(toInt64(v));
          p = q;
        }
      } else throw new DecodeError(`field ${no} should hold integers`, f.start);
    }
    return out;
  }

  floats(fields: readonly Field[], no: number): number[] {
    const out: number[] = [];
    for (const f of fields) {
      if (f.no !== no) continue;
      if (f.wire === Wire.Fixed32) out.push(fixed32ToFloat(f.value));
      else if (f.wire === Wire.Bytes) {
        const b = this.bytes(f);
        if (b.length % 4) throw new DecodeError(`packed floats of ${b.length} bytes`, f.start);
        const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
        for (let i = 0; i < b.length; i += 4) out.push(dv.getFloat32(i, true));
      } else throw new DecodeError(`field ${no} should hold floats`, f.start);
    }
    return out;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function decodeUtf8(b: Uint8Array, at: number): string {
  try {
    return utf8.decode(b);
  } catch {
    throw new DecodeError('invalid UTF-8 in a string', at);
  }
}

export function toInt64(v: bigint): number {
  return Number(BigInt.asIntN(64, v));
}

export function fixed32ToFloat(v: bigint): number {
  const dv = new DataView(new ArrayBuffer(4));
  dv.setUint32(0, Number(v), true);
  return dv.getFloat32(0, true);
}

export function first(fields: readonly Field[], no: number): Field | undefined {
  for (const f of fields) if (f.no === no) return f;
  return undefined;
}

export function last(fields: readonly Field[], no: number): Field | undefined {
  let found: Field | undefined;
  for (const f of fields) if (f.no === no) found = f;
  return found;
}
