// Buffered sequential writer to a file descriptor, for streaming outputs of any size.
import * as fs from 'fs';
import { ByteRange } from './bytes';

const BUFFER = 4 << 20;
const COPY_CHUNK = 16 << 20;

export class FileSink {
  private buf = Buffer.allocUnsafe(BUFFER);
  private used = 0;
  written = 0;

  constructor(private readonly fd: number) {}

  write(b: Uint8Array): void {
    if (b.length >= BUFFER / 2) {
      this.flush();
      writeAll(this.fd, b);
    } else {
      if (this.used + b.length > BUFFER) this.flush();
      this.buf.set(b, this.used);
      this.used += b.length;
    }
    this.written += b.length;
  }

  /** Copies a range of another file in chunks, never holding all of it. */
  copy(r: ByteRange): void {
    for (let off = 0; off < r.length; off += COPY_CHUNK) {
      const n = Math.min(COPY_CHUNK, r.length - off);
      this.write(r.source.read(r.offset + off, n));
    }
  }

  flush(): void {
    if (this.used) writeAll(this.fd, this.buf.subarray(0, this.used));
    this.used = 0;
  }
}

function writeAll(fd: number, b: Uint8Array): void {
  let done = 0;
  while (done < b.length) done += fs.writeSync(fd, b, done, b.length - done);
}
