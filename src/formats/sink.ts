// Buffered sequential writer to a file descriptor, for streaming outputs of any size. Once an output
// passes BACKGROUND_AFTER bytes, its writes move to a worker thread (background-writer.ts), so the
// page-cache copy and write-back overlap the work that produces the next bytes.
import * as fs from 'fs';
import { BackgroundWriter } from './background-writer';
import { ByteRange } from './bytes';

const BUFFER = 4 << 20;
const COPY_CHUNK = 4 << 20;
const BACKGROUND_AFTER = 64 << 20;

export interface FileSinkOptions {
  /** Move writes to a worker thread past this many bytes (default 64 MiB; Infinity never). */
  readonly backgroundAfter?: number;
}

export class FileSink {
  private buf = Buffer.allocUnsafe(BUFFER);
  private used = 0;
  private background?: BackgroundWriter;
  private readonly backgroundAfter: number;
  written = 0;

  constructor(private readonly fd: number, options: FileSinkOptions = {}) {
    this.backgroundAfter = options.backgroundAfter ?? BACKGROUND_AFTER;
  }

  write(b: Uint8Array): void {
    this.startBackgroundFor(b.length);
    if (this.background) this.background.write(b);
    else this.writeHere(b);
    this.written += b.length;
  }

  private startBackgroundFor(n: number): void {
    if (!this.background && this.written + n > this.backgroundAfter) {
      this.drain();
      this.buf = Buffer.alloc(0);
      this.background = new BackgroundWriter(this.fd);
    }
  }

  private writeHere(b: Uint8Array): void {
    if (b.length >= BUFFER / 2) {
      this.drain();
      writeAll(this.fd, b);
    } else {
      if (this.used + b.length > BUFFER) this.drain();
      this.buf.set(b, this.used);
      this.used += b.length;
    }
  }

  /**
   * Hands `fill` a 4-byte-aligned target for the next `n` bytes and writes what it puts there. Once
   * writes run in the background, the target is the worker's own buffer: the bytes are never copied.
   */
  fill(n: number, fill: (target: Uint8Array) => void): void {
    this.startBackgroundFor(n);
    if (this.background) this.background.fill(n, fill);
    else {
      const b = new Uint8Array(n);
      fill(b);
      this.writeHere(b);
    }
    this.written += n;
  }

  /** Copies a range of another file in chunks, never holding all of it. */
  copy(r: ByteRange): void {
    for (let off = 0; off < r.length; off += COPY_CHUNK) {
      const n = Math.min(COPY_CHUNK, r.length - off);
      this.write(r.source.read(r.offset + off, n));
    }
  }

  /** Every byte given so far is in the file (not yet synced) when this returns. */
  flush(): void {
    this.drain();
    const bg = this.background;
    this.background = undefined;
    bg?.finish();
    // Writes after a flush buffer again; the buffer comes back only then.
    if (this.buf.length === 0) this.buf = Buffer.allocUnsafe(BUFFER);
  }

  /** Stops background writing of an output that is being discarded. */
  abandon(): void {
    this.background?.abandon();
    this.background = undefined;
    this.used = 0;
  }

  private drain(): void {
    if (this.used) writeAll(this.fd, this.buf.subarray(0, this.used));
    this.used = 0;
  }
}

function writeAll(fd: number, b: Uint8Array): void {
  let done = 0;
  while (done < b.length) done += fs.writeSync(fd, b, done, b.length - done);
}
