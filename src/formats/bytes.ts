// Random access to a file's bytes without loading the file. Small reads go through a window cache so a
// protobuf or pickle walk costs few syscalls; large reads go straight to a fresh buffer.
import * as fs from 'fs';

export interface ByteSource {
  readonly name: string;
  readonly length: number;
  /** The bytes [offset, offset+length). May be a view of a shared buffer: copy before mutating. */
  read(offset: number, length: number): Uint8Array;
  /** The bytes in a new buffer of their own (offset 0), which the caller may overwrite. */
  readCopy?(offset: number, length: number): Uint8Array;
  /** Fills `target` with the bytes from `offset` on (a scan through one reused buffer). */
  readInto?(offset: number, target: Uint8Array): void;
  close(): void;
}

export class BufferSource implements ByteSource {
  readonly length: number;
  constructor(readonly name: string, private readonly bytes: Uint8Array) {
    this.length = bytes.length;
  }
  read(offset: number, length: number): Uint8Array {
    checkRange(this, offset, length);
    return this.bytes.subarray(offset, offset + length);
  }
  close(): void {}
}

/** Small: a walk that skips large payloads reads one window per field it stops at. */
const WINDOW = 64 << 10;
const KEEP_AS_VIEW = 64;

export class FileSource implements ByteSource {
  readonly length: number;
  private fd: number;
  private window: Buffer = Buffer.alloc(0);
  private windowStart = 0;

  constructor(readonly name: string) {
    this.fd = fs.openSync(name, 'r');
    this.length = fs.fstatSync(this.fd).size;
  }

  /** Returns a plain Uint8Array (not a Buffer), so `.slice()` copies as callers expect. */
  read(offset: number, length: number): Uint8Array {
    checkRange(this, offset, length);
    if (length > WINDOW / 4) return view(this.readFresh(offset, length), 0, length);
    if (!(offset >= this.windowStart && offset + length <= this.windowStart + this.window.length)) {
      // Windows start on an 8-byte boundary of the file, so aligned data gives aligned views.
      this.windowStart = offset - (offset % 8);
      this.window = this.readFresh(this.windowStart, Math.min(WINDOW, this.length - this.windowStart));
    }
    const at = offset - this.windowStart;
    // Tensor-sized reads are copied: a caller keeping a 3 KB BN vector would otherwise pin a 1 MiB
    // window (a B3 model pinned 50 MB that way). Protobuf tags, varints and names stay views.
    const v = view(this.window, at, length);
    return length > KEEP_AS_VIEW ? v.slice() : v;
  }

  readCopy(offset: number, length: number): Uint8Array {
    checkRange(this, offset, length);
    // allocUnsafeSlow: never a slice of Node's shared pool, whatever the size.
    return view(this.readFresh(offset, length, Buffer.allocUnsafeSlow(length)), 0, length);
  }

  readInto(offset: number, target: Uint8Array): void {
    checkRange(this, offset, target.length);
    this.readFresh(offset, target.length, target);
  }

  private readFresh<B extends Uint8Array = Buffer>(offset: number, length: number, out: B = Buffer.allocUnsafe(length) as unknown as B): B {
    return readFully(this.fd, this.name, offset, out, length);
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }
}

function view(b: Buffer, at: number, length: number): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset + at, length);
}

/** Fills out[0, length) from the file at `offset`; a file that shrank underneath is an error. */
export function readFully<B extends Uint8Array>(fd: number, name: string, offset: number, out: B, length = out.length): B {
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, out, done, length - done, offset + done);
    if (n === 0) throw new RangeError(`${name}: file shrank while reading (byte ${offset + done})`);
    done += n;
  }
  return out;
}

/** Refuses a read outside the source. */
export function checkRange(src: ByteSource, offset: number, length: number): void {
  if (!(offset >= 0 && length >= 0 && offset + length <= src.length)) {
    throw new RangeError(`read of ${length} bytes at ${offset} is past the end of ${src.name} (${src.length} bytes)`);
  }
}

/** A slice of a source, read when needed. */
export interface ByteRange {
  readonly source: ByteSource;
  readonly offset: number;
  readonly length: number;
}

export function readRange(r: ByteRange): Uint8Array {
  return r.source.read(r.offset, r.length);
}

/** Fills `target` with the range's bytes from `at` on, straight from the file where the source can. */
export function readRangeInto(r: ByteRange, at: number, target: Uint8Array): void {
  if (at < 0 || at + target.length > r.length) throw new RangeError(`bytes ${at}..${at + target.length} are outside a range of ${r.length}`);
  if (r.source.readInto) r.source.readInto(r.offset + at, target);
  else target.set(r.source.read(r.offset + at, target.length));
}
