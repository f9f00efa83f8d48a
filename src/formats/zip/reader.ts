// The central directory of a zip archive, read synchronously with a few small reads: end record (zip64
// too), directory entries, and each local header to find where an entry's bytes start. The directory
// walk never reads entry data (PyTorch stores storages uncompressed, so each one is a plain file range);
// readZipEntry reads one whole entry, inflated, within a size limit the caller states.
import * as fs from 'fs';
import * as zlib from 'zlib';
import { DecodeError } from '../../errors';
import { ByteSource, checkRange, openRegularFile, readFully } from '../bytes';
import { printable } from '../printable';
import { crc32 } from './crc32';

export interface ZipEntry {
  readonly name: string;
  /** 0 stored, 8 deflate. */
  readonly method: number;
  readonly flags: number;
  readonly crc32: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly localHeaderOffset: number;
  /** First byte of the entry's (possibly compressed) data in the file. */
  readonly dataOffset: number;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const MAX_COMMENT = 0xffff;

/** Reads straight from the file, without the window cache: directory reads are small and scattered. */
export class UncachedFileSource implements ByteSource {
  readonly length: number;
  private fd: number;
  constructor(readonly name: string) {
    ({ fd: this.fd, size: this.length } = openRegularFile(name));
  }
  read(offset: number, length: number): Uint8Array {
    checkRange(this, offset, length);
    return readFully(this.fd, this.name, offset, Buffer.allocUnsafe(length));
  }
  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }
}

function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** A 64-bit field as a number, refusing values past the file (they cannot be real offsets or sizes). */
function u64(v: DataView, at: number, limit: number, what: string, fileAt: number): number {
  const x = v.getBigUint64(at, true);
  if (x > BigInt(limit)) throw new DecodeError(`zip ${what} ${x} is past the end of the file`, fileAt);
  return Number(x);
}

export function readZipDirectory(src: ByteSource): ZipEntry[] {
  const size = src.length;
  if (size < 22) throw new DecodeError('file is too short to be a zip archive', 0);

  // The end record sits in the last 22 + comment bytes; search backwards for its signature.
  const tailLength = Math.min(size, 22 + MAX_COMMENT + 20);
  const tailStart = size - tailLength;
  const tail = src.read(tailStart, tailLength);
  const tv = dv(tail);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tv.getUint32(i, true) === EOCD && tv.getUint16(i + 20, true) === tail.length - i - 22) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new DecodeError('no zip end-of-central-directory record (truncated file?)', size);
  const eocdAt = tailStart + eocd;
  if (tv.getUint16(eocd + 4, true) !== 0 || tv.getUint16(eocd + 6, true) !== 0) throw new DecodeError('multi-disk zip archives are not supported', eocdAt);
  let count = tv.getUint16(eocd + 10, true);
  let cdSize = tv.getUint32(eocd + 12, true);
  let cdOffset = tv.getUint32(eocd + 16, true);
  let directoryEnd = eocdAt;

  if (eocd >= 20 && tv.getUint32(eocd - 20, true) === ZIP64_LOCATOR) {
    const locAt = eocdAt - 20;
    const recAt = u64(tv, eocd - 20 + 8, size - 56, 'zip64 end record offset', locAt);
    const rec = dv(src.read(recAt, 56));
    if (rec.getUint32(0, true) !== ZIP64_EOCD) throw new DecodeError('zip64 locator does not point at a zip64 end record', recAt);
    if (rec.getUint32(16, true) !== 0 || rec.getUint32(20, true) !== 0) throw new DecodeError('multi-disk zip archives are not supported', recAt);
    count = u64(rec, 32, size, 'entry count', recAt);
    cdSize = u64(rec, 40, size, 'directory size', recAt);
    cdOffset = u64(rec, 48, size, 'directory offset', recAt);
    directoryEnd = recAt;
  } else if (count === 0xffff || cdOffset === 0xffffffff || cdSize === 0xffffffff) {
    throw new DecodeError('zip end record needs zip64 fields but has no zip64 locator', eocdAt);
  }
  if (cdOffset + cdSize > directoryEnd) throw new DecodeError(`zip central directory (${cdSize} bytes at ${cdOffset}) overruns the end record`, eocdAt);
  if (count * 46 > cdSize) throw new DecodeError(`zip directory of ${cdSize} bytes cannot hold ${count} entries`, eocdAt);

  const cd = src.read(cdOffset, cdSize);
  const cv = dv(cd);
  const entries: ZipEntry[] = [];
  const names = new Set<string>();
  let p = 0;
  for (let i = 0; i < count; i++) {
    const at = cdOffset + p;
    if (p + 46 > cd.length || cv.getUint32(p, true) !== CENTRAL) throw new DecodeError(`zip directory entry ${i} has no signature`, at);
    const flags = cv.getUint16(p + 8, true);
    const method = cv.getUint16(p + 10, true);
    const crc32 = cv.getUint32(p + 16, true);
    let compressedSize = cv.getUint32(p + 20, true);
    let uncompressed = cv.getUint32(p + 24, true);
    const nameLength = cv.getUint16(p + 28, true);
    const extraLength = cv.getUint16(p + 30, true);
    const commentLength = cv.getUint16(p + 32, true);
    let localHeaderOffset = cv.getUint32(p + 42, true);
    const end = p + 46 + nameLength + extraLength + commentLength;
    if (end > cd.length) throw new DecodeError(`zip directory entry ${i} runs past the directory`, at);
    const nameBytes = cd.subarray(p + 46, p + 46 + nameLength);
    const name = Buffer.from(nameBytes).toString(flags & 0x800 ? 'utf8' : 'latin1');
    if (flags & 0x1) throw new DecodeError(`zip entry ${printable(name)} is encrypted`, at);

    // zip64 extended information: present fields follow the order of the 0xffffffff placeholders
    let e = p + 46 + nameLength;
    const extraEnd = e + extraLength;
    while (e + 4 <= extraEnd) {
      const id = cv.getUint16(e, true);
      const len = cv.getUint16(e + 2, true);
      if (e + 4 + len > extraEnd) throw new DecodeError(`zip entry ${printable(name)} has a malformed extra field`, cdOffset + e);
      if (id === 0x0001) {
        let q = e + 4;
        const field = (what: string): number => {
          if (q + 8 > e + 4 + len) throw new DecodeError(`zip64 field of ${printable(name)} lacks the ${what}`, cdOffset + e);
          const v = u64(cv, q, size, what, cdOffset + q);
          q += 8;
          return v;
        };
        if (uncompressed === 0xffffffff) uncompressed = field('size');
        if (compressedSize === 0xffffffff) compressedSize = field('compressed size');
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = field('header offset');
      }
      e += 4 + len;
    }
    if (method === 0 && compressedSize !== uncompressed) {
      throw new DecodeError(`stored zip entry ${printable(name)} has compressed size ${compressedSize} but size ${uncompressed}`, at);
    }
    if (names.has(name)) throw new DecodeError(`zip archive has two entries named ${printable(name)}`, at);
    names.add(name);

    // The local header repeats the name; its extra field (torch's alignment padding) may differ in length.
    if (localHeaderOffset + 30 + nameLength > cdOffset) throw new DecodeError(`zip entry ${printable(name)} has its header past the directory`, at);
    const local = src.read(localHeaderOffset, 30 + nameLength);
    const lv = dv(local);
    if (lv.getUint32(0, true) !== LOCAL) throw new DecodeError(`zip entry ${printable(name)} has no local header`, localHeaderOffset);
    if (lv.getUint16(26, true) !== nameLength || Buffer.compare(local.subarray(30), nameBytes) !== 0) {
      throw new DecodeError(`zip entry ${printable(name)} has a different name in its local header`, localHeaderOffset);
    }
    const dataOffset = localHeaderOffset + 30 + nameLength + lv.getUint16(28, true);
    if (dataOffset + compressedSize > cdOffset) throw new DecodeError(`zip entry ${printable(name)} (${compressedSize} bytes at ${dataOffset}) runs into the directory`, localHeaderOffset);

    entries.push({ name, method, flags, crc32, compressedSize, size: uncompressed, localHeaderOffset, dataOffset });
    p = end;
  }
  return entries;
}

/**
 * One whole entry, inflated if needed and checked against its CRC. The sizes the directory declares
 * are checked against `limit` before anything is allocated, and inflating stops at the declared size.
 */
export function readZipEntry(src: ByteSource, e: ZipEntry, limit: number): Uint8Array {
  if (e.size > limit) throw new DecodeError(`${printable(e.name)} is ${e.size} bytes, more than the ${limit} allowed`, e.dataOffset);
  // deflate never grows data by more than a few bytes per 16 KiB block
  if (e.compressedSize > e.size + (e.size >> 10) + 64) throw new DecodeError(`${printable(e.name)} has ${e.compressedSize} compressed bytes for ${e.size}`, e.dataOffset);
  // and never expands by more than 1032:1, so a small entry cannot claim a huge size and be allocated it
  if (e.method === 8 && e.size > e.compressedSize * 1032 + 64) throw new DecodeError(`${printable(e.name)} claims ${e.size} bytes from ${e.compressedSize} deflated bytes, more than deflate can expand to`, e.dataOffset);
  let bytes: Uint8Array;
  if (e.method === 0) bytes = src.read(e.dataOffset, e.size);
  else if (e.method === 8) {
    try {
      bytes = zlib.inflateRawSync(src.read(e.dataOffset, e.compressedSize), { maxOutputLength: Math.max(1, e.size) });
    } catch (err) {
      throw new DecodeError(`${printable(e.name)} does not inflate (${printable((err as Error).message)})`, e.dataOffset);
    }
    if (bytes.length !== e.size) throw new DecodeError(`${printable(e.name)} inflates to ${bytes.length} bytes, not ${e.size}`, e.dataOffset);
  } else throw new DecodeError(`${printable(e.name)} uses zip compression method ${e.method}`, e.localHeaderOffset);
  if (crc32(bytes) !== e.crc32) throw new DecodeError(`${printable(e.name)} fails its CRC check`, e.dataOffset);
  return bytes;
}
