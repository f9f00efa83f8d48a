// Streams a zip archive the way PyTorch writes one (.pth; .npz uses it too): stored entries, sizes and
// CRC in a data descriptor after the data (so nothing is read twice), each entry's data aligned to 64
// bytes by an 'FB' padding extra field, and a zip64 end record always present. Entries grow past 4 GiB
// through zip64 fields.
import { FileSink } from '../sink';
import { crc32 } from './crc32';
import { TensorOut } from '../state-dict';

export const ALIGNMENT = 64;
const DOS_DATE_1980_01_01 = (0 << 9) | (1 << 5) | 1;
const FLAGS = 0x0808; // data descriptor follows; names are UTF-8
const MAX32 = 0xffffffff;

interface Written {
  readonly name: Buffer;
  readonly offset: number;
  readonly size: number;
  readonly crc: number;
  readonly zip64: boolean;
}

export interface ZipWriterOptions {
  /** Use zip64 fields for every entry (tests use it to cover the > 4 GiB path with small data). */
  readonly forceZip64?: boolean;
}

export class ZipWriter {
  private readonly entries: Written[] = [];

  constructor(private readonly sink: FileSink, private readonly options: ZipWriterOptions = {}) {}

  private le(values: ReadonlyArray<[number, 2 | 4 | 8]>): Buffer {
    const b = Buffer.alloc(values.reduce((a, [, n]) => a + n, 0));
    let p = 0;
    for (const [v, n] of values) {
      if (n === 2) b.writeUInt16LE(v, p);
      else if (n === 4) b.writeUInt32LE(v >>> 0, p);
      else b.writeBigUInt64LE(BigInt(v), p);
      p += n;
    }
    return b;
  }

  /** Adds an entry of exactly `size` bytes, which `writeData` gives to `out` in order (whole, or filled in place). */
  add(name: string, size: number, writeData: (out: TensorOut) => void): void {
    const nameBytes = Buffer.from(name, 'utf8');
    const offset = this.sink.written;
    const zip64 = !!this.options.forceZip64 || size >= MAX32;
    const zip64Extra = zip64 ? this.le([[0x0001, 2], [16, 2], [size, 8], [size, 8]]) : Buffer.alloc(0);
    const dataStart = offset + 30 + nameBytes.length + zip64Extra.length;
    let pad = (ALIGNMENT - (dataStart % ALIGNMENT)) % ALIGNMENT;
    if (pad > 0 && pad < 4) pad += ALIGNMENT; // the padding field needs 4 bytes of its own
    const padding = Buffer.alloc(pad, 0x5a); // 'Z'
    if (pad) padding.write('FB', 0, 'latin1'), padding.writeUInt16LE(pad - 4, 2);

    this.sink.write(this.le([
      [0x04034b50, 4], [zip64 ? 45 : 20, 2], [FLAGS, 2], [0, 2], [0, 2], [DOS_DATE_1980_01_01, 2],
      [0, 4], [zip64 ? MAX32 : 0, 4], [zip64 ? MAX32 : 0, 4], [nameBytes.length, 2], [zip64Extra.length + pad, 2],
    ]));
    this.sink.write(nameBytes);
    this.sink.write(zip64Extra);
    this.sink.write(padding);

    let crc = 0;
    let written = 0;
    writeData({
      write: (b) => {
        crc = crc32(b, crc);
        written += b.length;
        this.sink.write(b);
      },
      fill: (n, fill) =>
        this.sink.fill(n, (target) => {
          fill(target);
          crc = crc32(target, crc);
          written += n;
        }),
    });
    if (written !== size) throw new Error(`zip entry ${name}: wrote ${written} bytes, expected ${size}`);
    this.sink.write(zip64 ? this.le([[0x08074b50, 4], [crc, 4], [size, 8], [size, 8]]) : this.le([[0x08074b50, 4], [crc, 4], [size, 4], [size, 4]]));
    this.entries.push({ name: nameBytes, offset, size, crc, zip64 });
  }

  addBytes(name: string, bytes: Uint8Array): void {
    this.add(name, bytes.length, (out) => out.write(bytes));
  }

  /** Writes the central directory and end records. */
  finish(): void {
    const cdOffset = this.sink.written;
    for (const e of this.entries) {
      const bigOffset = this.options.forceZip64 || e.offset >= MAX32;
      const fields: Array<[number, 8]> = [];
      if (e.zip64) fields.push([e.size, 8], [e.size, 8]);
      if (bigOffset) fields.push([e.offset, 8]);
      const extra = fields.length ? this.le([[0x0001, 2], [fields.length * 8, 2], ...fields]) : Buffer.alloc(0);
      this.sink.write(this.le([
        [0x02014b50, 4], [(3 << 8) | 45, 2], [e.zip64 || bigOffset ? 45 : 20, 2], [FLAGS, 2], [0, 2], [0, 2], [DOS_DATE_1980_01_01, 2],
        [e.crc, 4], [e.zip64 ? MAX32 : e.size, 4], [e.zip64 ? MAX32 : e.size, 4], [e.name.length, 2], [extra.length, 2],
        [0, 2], [0, 2], [0, 2], [0o100644 * 0x10000, 4], [bigOffset ? MAX32 : e.offset, 4],
      ]));
      this.sink.write(e.name);
      this.sink.write(extra);
    }
    const cdSize = this.sink.written - cdOffset;
    const zip64EndOffset = this.sink.written;
    const n = this.entries.length;
    this.sink.write(this.le([
      [0x06064b50, 4], [44, 8], [(3 << 8) | 45, 2], [45, 2], [0, 4], [0, 4], [n, 8], [n, 8], [cdSize, 8], [cdOffset, 8],
    ]));
    this.sink.write(this.le([[0x07064b50, 4], [0, 4], [zip64EndOffset, 8], [1, 4]]));
    this.sink.write(this.le([
      [0x06054b50, 4], [0, 2], [0, 2], [Math.min(n, 0xffff), 2], [Math.min(n, 0xffff), 2],
      [Math.min(cdSize, MAX32), 4], [Math.min(cdOffset, MAX32), 4], [0, 2],
    ]));
  }
}
