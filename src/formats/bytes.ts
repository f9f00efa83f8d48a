// Random access to a file's bytes without loading the file. Small reads go through a window cache so a
// protobuf or pickle walk costs few syscalls; large reads go straight to a fresh buffer.
import * as fs from 'fs';
import { UserError } from '../errors';
import { printable } from './printable';

export interface ByteSource {
  readonly name: string;
  readonly length: number;
  /** The bytes [offset, offset+length). May be a view of a shared buffer: copy before mutating. */
  read(offset: number, length: number): Uint8Array;
  /** The bytes in a new buffer of their own (offset 0), which the caller may overwrite. */
  readCopy?(offset: number, length: number): Uint8Array;
  /** Fills `target` with the bytes from `offset` on (a scan through one reused buffer). */
  readInto?(offset: number, target: Uint8Array): void;
  /**
   * Where [offset, offset+length) sits, byte for byte, in a file on disk, so that another reader
   * (onnxruntime, loading a weight as external data) can take it from there; undefined when the bytes
   * are not in a file as they are (a buffer, a strided or byte-swapped view).
   */
  fileRange?(offset: number, length: number): FileRange | undefined;
  close(): void;
}

export interface FileRange {
  readonly file: string;
  readonly offset: number;
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

  /** `opened`: a descriptor opened (and checked) elsewhere, which the source then owns. */
  constructor(readonly name: string, opened: { fd: number; size: number } = openRegularFile(name)) {
    ({ fd: this.fd, size: this.length } = opened);
  }

  /** Returns a plain Uint8Array (not a Buffer), so `.slice()` copies as callers expect. */
  read(offset: number, length: number): Uint8Array {
    checkRange(this, offset, length);
    if (length > WINDOW / 4) return view(this.readFresh(offset, length), 0, length);
    // Tensor-sized reads are copied: a caller keeping a 3 KB BN vector would otherwise pin a 1 MiB
    // window (a B3 model pinned 50 MB that way). Protobuf tags, varints and names stay views.
    const v = this.windowed(offset, length);
    return length > KEEP_AS_VIEW ? v.slice() : v;
  }

  /** A view of the window holding [offset, offset + length), moving the window there if needed. */
  private windowed(offset: number, length: number): Uint8Array {
    if (!(offset >= this.windowStart && offset + length <= this.windowStart + this.window.length)) {
      // Windows start on an 8-byte boundary of the file, so aligned data gives aligned views.
      this.windowStart = offset - (offset % 8);
      this.window = this.readFresh(this.windowStart, Math.min(WINDOW, this.length - this.windowStart));
    }
    return view(this.window, offset - this.windowStart, length);
  }

  readCopy(offset: number, length: number): Uint8Array {
    checkRange(this, offset, length);
    // allocUnsafeSlow: never a slice of Node's shared pool, whatever the size.
    return view(this.readFresh(offset, length, Buffer.allocUnsafeSlow(length)), 0, length);
  }

  readInto(offset: number, target: Uint8Array): void {
    checkRange(this, offset, target.length);
    // Small pieces (the nodes a writer copies one by one) come from the window: one read per window, not per piece.
    if (target.length <= WINDOW / 4) target.set(this.windowed(offset, target.length));
    else this.readFresh(offset, target.length, target);
  }

  fileRange(offset: number, length: number): FileRange {
    checkRange(this, offset, length);
    return { file: this.name, offset };
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

/** What a file system entry is, in words ("a named pipe"). */
export function kindOf(st: fs.Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a named pipe';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

// Opening a named pipe for reading waits for a writer, inside the open call, where no signal handler
// can run; without blocking, the open returns at once and fstat says what it is.
const O_NONBLOCK = fs.constants.O_NONBLOCK ?? 0;

/**
 * Opens a file for reading, refusing anything but a regular file (a named pipe, a device, a folder)
 * without ever waiting on it. `what` names the file in messages ("external data file w.bin").
 */
export function openRegularFile(name: string, what: string = name, hint?: string): { fd: number; size: number } {
  let fd: number;
  try {
    fd = fs.openSync(name, fs.constants.O_RDONLY | O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`${printable(what)} does not exist`, { code: 'BAD_USAGE', cause: e });
    throw new UserError(`${printable(what)} cannot be read (${code ?? (e as Error).message})`, { code: 'BAD_USAGE', cause: e });
  }
  const st = fs.fstatSync(fd);
  if (!st.isFile()) {
    fs.closeSync(fd);
    throw new UserError(`${printable(what)} is ${kindOf(st)}, not a regular file`, {
      code: 'BAD_USAGE',
      hint: hint ?? (st.isDirectory() ? 'name the file inside it' : 'save the model to a regular file and name that'),
    });
  }
  return { fd, size: st.size };
}

/** Fills out[0, length) from the file at `offset`; a file that shrank underneath is refused. */
export function readFully<B extends Uint8Array>(fd: number, name: string, offset: number, out: B, length = out.length): B {
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, out, done, length - done, offset + done);
    if (n === 0) {
      throw new UserError(`${printable(name)} changed while it was being read: it ends before byte ${offset + done}, which was there when it was opened`, {
        code: 'BAD_INPUT',
        hint: 'let whatever is writing the file finish, then run again',
      });
    }
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
