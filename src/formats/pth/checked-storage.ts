// A storage's bytes are checked against the CRC-32 its zip entry records the first time any of them is
// read, so a checkpoint whose weights were damaged on disk or in transfer is refused rather than
// converted; storages nobody reads are never read for the check either.
import { FormatError } from '../../errors';
import { ByteSource, FileRange, checkRange } from '../bytes';
import { crc32 } from '../zip/crc32';

const CHUNK = 1 << 20;

export interface StorageEntry {
  readonly key: string;
  readonly offset: number;
  readonly length: number;
  readonly crc32: number;
}

/** The checkpoint file as seen by one storage's tensors: same offsets, checked before the first read. */
export class CheckedStorageSource implements ByteSource {
  readonly name: string;
  readonly length: number;
  private failure?: FormatError;
  private checked = false;

  constructor(private readonly file: ByteSource & Required<Pick<ByteSource, 'readInto'>>, private readonly entry: StorageEntry, private readonly format: string) {
    this.name = file.name;
    this.length = file.length;
  }

  private check(): void {
    if (this.failure) throw this.failure;
    if (this.checked) return;
    const { offset, length } = this.entry;
    checkRange(this.file, offset, length);
    const buf = new Uint8Array(Math.min(CHUNK, length));
    let crc = 0;
    for (let at = 0; at < length; at += CHUNK) {
      const part = length - at < CHUNK ? buf.subarray(0, length - at) : buf;
      this.file.readInto(offset + at, part);
      crc = crc32(part, crc);
    }
    if (crc !== this.entry.crc32) {
      this.failure = new FormatError(this.file.name, this.format, `storage ${this.entry.key} fails its CRC check: its bytes are not the ones saved`, {
        offset,
        hint: 'the file was damaged after it was saved; copy or download it again',
      });
      throw this.failure;
    }
    this.checked = true;
  }

  read(offset: number, length: number): Uint8Array {
    this.check();
    return this.file.read(offset, length);
  }

  readCopy(offset: number, length: number): Uint8Array {
    this.check();
    return this.file.readCopy ? this.file.readCopy(offset, length) : this.file.read(offset, length).slice();
  }

  readInto(offset: number, target: Uint8Array): void {
    this.check();
    this.file.readInto(offset, target);
  }

  /** Checked first: another reader taking the bytes from the file sees only bytes that passed. */
  fileRange(offset: number, length: number): FileRange | undefined {
    this.check();
    return this.file.fileRange?.(offset, length);
  }

  /** The file is the reader's to close. */
  close(): void {}
}
