// Buffered sequential writer to a file descriptor, for streaming outputs of any size. Once an output
// passes BACKGROUND_AFTER bytes (or says it will, with `expect`), its writes move to a worker thread
// (background-writer.ts), so writing overlaps the work that produces the next bytes; given the file's
// path, that worker writes with direct I/O. Every write names its file offset: the sink owns the file
// from offset 0.
import * as fs from 'fs';
import { BackgroundWriter, prepareWriterThread } from './background-writer';
import { ByteRange, readRangeInto } from './bytes';

const BUFFER = 4 << 20;
/** Under the worker's slot size, so that each chunk is read straight into its ring. */
const COPY_CHUNK = 1 << 20;
const BACKGROUND_AFTER = 64 << 20;

/** Where a range's bytes can be filled in place, a slice at a time. */
export interface FillTarget {
  fill(n: number, fill: (target: Uint8Array) => void): void;
}

/** A range of another file into `out` in chunks, never holding all of it: read straight into a writer's buffer where it has one. */
export function copyRange(out: FillTarget, r: ByteRange): void {
  for (let off = 0; off < r.length; off += COPY_CHUNK) {
    const at = off;
    out.fill(Math.min(COPY_CHUNK, r.length - off), (target) => readRangeInto(r, at, target));
  }
}

/** An output of about `bytes` is coming: past the background threshold, its writer thread starts now. */
export function expectOutput(bytes: number): void {
  if (bytes > BACKGROUND_AFTER) prepareWriterThread();
}

export interface FileSinkOptions {
  /** Move writes to a worker thread past this many bytes (default 64 MiB; Infinity never). */
  readonly backgroundAfter?: number;
  /** The file's path: lets the worker write whole blocks with direct I/O, past the page cache. */
  readonly path?: string;
  /** False: the worker writes through the page cache even when `path` is given. */
  readonly direct?: boolean;
  /** Bytes given so far, and the total when `expect` told it; called every PROGRESS_STEP bytes and at the end. */
  readonly onProgress?: (written: number, total: number | undefined) => void;
}

const PROGRESS_STEP = 1 << 20;

export class FileSink {
  private buf = Buffer.allocUnsafe(BUFFER);
  private used = 0;
  private background?: BackgroundWriter;
  private readonly backgroundAfter: number;
  /** Bytes given to the sink; it writes them from offset 0 of the file, at explicit positions. */
  written = 0;
  /** Bytes handed to write(2) so far, here or by the worker. */
  private at = 0;
  private expected?: number;
  private reportedAt = 0;

  constructor(private readonly fd: number, private readonly options: FileSinkOptions = {}) {
    this.backgroundAfter = options.backgroundAfter ?? BACKGROUND_AFTER;
  }

  write(b: Uint8Array): void {
    this.startBackgroundFor(b.length);
    if (this.background) {
      this.background.write(b);
      this.at += b.length;
    } else this.writeHere(b);
    this.written += b.length;
    this.progress();
  }

  private progress(): void {
    if (!this.options.onProgress || this.written - this.reportedAt < PROGRESS_STEP) return;
    this.reportedAt = this.written;
    this.options.onProgress(this.written, this.expected);
  }

  /**
   * Says that at least `total` bytes will have been written once the output is complete. A large
   * output then moves to the worker now, so its start-up overlaps the work before the first bytes.
   */
  expect(total: number): void {
    this.expected = total;
    this.startBackgroundFor(total - this.written);
  }

  private startBackgroundFor(n: number): void {
    if (!this.background && this.written + n > this.backgroundAfter) {
      this.drain();
      this.buf = Buffer.alloc(0);
      this.background = new BackgroundWriter(this.fd, { start: this.at, path: this.options.path, direct: this.options.direct });
    }
  }

  private writeHere(b: Uint8Array): void {
    if (b.length >= BUFFER / 2) {
      this.drain();
      this.writeAt(b);
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
    if (this.background) {
      this.background.fill(n, fill);
      this.at += n;
    } else {
      const b = new Uint8Array(n);
      fill(b);
      this.writeHere(b);
    }
    this.written += n;
    this.progress();
  }

  /** Copies a range of another file (see copyRange). */
  copy(r: ByteRange): void {
    copyRange(this, r);
  }

  /** Whether the worker wrote whole blocks with direct I/O to the end (known once flushed). */
  wroteDirect = false;

  /** Every byte given so far is in the file (not yet synced) when this returns. */
  flush(): void {
    this.drain();
    const bg = this.background;
    this.background = undefined;
    bg?.finish();
    if (bg?.direct) this.wroteDirect = true;
    // Writes after a flush buffer again; the buffer comes back only then.
    if (this.buf.length === 0) this.buf = Buffer.allocUnsafe(BUFFER);
    this.options.onProgress?.(this.written, this.expected);
  }

  /** Stops background writing of an output that is being discarded. */
  abandon(): void {
    this.background?.abandon();
    this.background = undefined;
    this.used = 0;
  }

  private drain(): void {
    if (this.used) this.writeAt(this.buf.subarray(0, this.used));
    this.used = 0;
  }

  private writeAt(b: Uint8Array): void {
    let done = 0;
    while (done < b.length) done += fs.writeSync(this.fd, b, done, b.length - done, this.at + done);
    this.at += b.length;
  }
}
