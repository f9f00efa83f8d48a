// Protobuf encoding as a tree of parts whose sizes are known before any byte is produced, so that a
// model can be written front to back: small framing is encoded eagerly, while tensor payloads stay
// file ranges (copied straight from the input) or thunks (computed when their turn comes).
import { SlicePut } from '../../tensor';
import { ByteRange } from '../bytes';
import { Wire } from './reader';

export type Part =
  | Uint8Array
  | { readonly kind: 'range'; readonly range: ByteRange }
  | {
      readonly kind: 'lazy';
      readonly length: number;
      readonly produce: () => Uint8Array;
      /** The same bytes a slice at a time, written in place into the writer's buffer. */
      readonly stream?: (put: SlicePut) => void;
    }
  | {
      /** Parts made one at a time as they are written (a million nodes need not be held at once). */
      readonly kind: 'each';
      readonly length: number;
      readonly parts: () => Iterable<Part>;
    }
  | Message;

export class Message {
  readonly parts: Part[] = [];
  private cached = -1;

  add(...parts: Part[]): this {
    this.parts.push(...parts);
    this.cached = -1;
    return this;
  }

  get size(): number {
    if (this.cached < 0) this.cached = this.parts.reduce((n, p) => n + partSize(p), 0);
    return this.cached;
  }

  // Field helpers.
  varintField(no: number, v: number | bigint): this {
    return this.add(concat(tag(no, Wire.Varint), varint(v)));
  }
  stringField(no: number, s: string): this {
    return this.bytesField(no, new TextEncoder().encode(s));
  }
  bytesField(no: number, payload: Part): this {
    return this.add(concat(tag(no, Wire.Bytes), varint(partSize(payload))), payload);
  }
  packedInt64Field(no: number, values: readonly number[]): this {
    if (values.length === 0) return this;
    return this.bytesField(no, concat(...values.map((v) => varint(v))));
  }
  floatField(no: number, v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    return this.add(concat(tag(no, Wire.Fixed32), b));
  }
}

export function partSize(p: Part): number {
  if (p instanceof Uint8Array) return p.length;
  if (p instanceof Message) return p.size;
  return p.kind === 'range' ? p.range.length : p.length;
}

export function tag(no: number, wire: Wire): Uint8Array {
  return varint(no * 8 + wire);
}

/** Varint of a non-negative or negative (two's complement, 10 bytes) 64-bit integer. */
export function varint(value: number | bigint): Uint8Array {
  let v = BigInt.asUintN(64, BigInt(value));
  if (v < 0x80n) return Uint8Array.of(Number(v));
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Uint8Array.from(out);
}

export function concat(...arrays: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const a of arrays) n += a.length;
  const out = new Uint8Array(n);
  let p = 0;
  for (const a of arrays) {
    out.set(a, p);
    p += a.length;
  }
  return out;
}

/** Visits the leaves of a part tree in order. */
export function* leaves(p: Part): Generator<Exclude<Part, Message | { kind: 'each' }>> {
  if (p instanceof Message) {
    for (const q of p.parts) yield* leaves(q);
  } else if (!(p instanceof Uint8Array) && p.kind === 'each') {
    for (const q of p.parts()) yield* leaves(q);
  } else yield p;
}
