// Random access to a file's bytes without loading the file. Small reads go through a window cache so a
// protobuf or pickle walk costs few syscalls; large reads go straight to a fresh buffer.
import * as fs from 'fs';

export interface ByteSource {
  readonly name: string;
  readonly length: number;
  /** The bytes [offset, offset+length). May be a view of a shared buffer: copy before mutating. */
  read(offset: number, length: number): Uint8Array;
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

const WINDOW = 1 << 20;

export class FileSource implements ByteSource {
  readonly length: number;
  private fd: number;
  private window: Buffer = Buffer.alloc(0);
  private windowStart = 0;

  constructor(readonly name: string) {
    this.fd = fs.openSync(name, 'r');
    this.length = fs.fstatSync(this.fd).size;
  }

  read(offset: number, length: number): Uint8Array {
    checkRange(this, offset, length);
    if (offset >= this.windowStart && offset + length <= this.windowStart + this.window.length) {
      return this.window.subarray(offset - this.windowStart, offset - this.windowStart + length);
    }
    if (length > WINDOW / 4) return this.readFresh(offset, length);
    this.windowStart = offset;
    this.window = this.readFresh(offset, Math.min(WINDOW, this.length - offset));
    return this.window.subarray(0, length);
  }

  private readFresh(offset: number, length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = fs.readSync(this.fd, out, done, length - done, offset + done);
      if (n === 0) throw new RangeError(`${this.name}: file shrank while reading (byte ${offset + done})`);
      done += n;
    }
    return out;
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }
}

function checkRange(src: ByteSource, offset: number, length: number): void {
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
