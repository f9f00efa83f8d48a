// A stamp: a short JSON text every output carries, under the key "repvgg-convert", in the place its
// format keeps such things: an ONNX metadata_props entry, a safetensors __metadata__ value, a zip entry
// of a .pth archive (.data/repvgg-convert.json, which torch.load does not read). A .wts file has no such
// place (every line is an entry to its readers): its record is in the JSON report only.
//
// Part of what it records (the check's measured error) is known only after the staged output has been
// checked. So the output is staged with a placeholder of fixed size, and the text is written over it in
// place once known, padded with spaces to that size: only those bytes change (and, in a .pth, the entry's
// CRC-32 in its two records), never a byte that was checked.
import * as fs from 'fs';
import { FormatError } from '../errors';
import { crc32 } from './zip/crc32';

export const STAMP_KEY = 'repvgg-convert';
/** The .pth archive entry holding the stamp, under the archive's root folder. */
export const STAMP_ENTRY = `.data/${STAMP_KEY}.json`;
/** The stamp's size in every output; a longer text (a very long input name) is refused by `fill`. */
export const STAMP_BYTES = 1024;

/** Placeholder text of STAMP_BYTES, unique to this run, to be found and written over. */
export function placeholder(): string {
  const token = `{"pending":"${process.pid}.${Date.now().toString(36)}.${Math.random().toString(36).slice(2)}"}`;
  return token.padEnd(STAMP_BYTES, ' ');
}

/** Where a format keeps its stamp: near the file's start or its end; .pth also carries a CRC of it. */
export type StampPlace = 'head' | 'tail' | 'zip-entry';

/** How far from the file's start a stamp is looked for (safetensors writes __metadata__ first). */
const HEAD = 64 << 10;
/** How far from its end: a .pth archive's central directory follows the stamp entry, 100 bytes a tensor. */
const TAIL = 16 << 20;

/**
 * Writes `text` over the placeholder in `file` (its bytes, JSON-escaped the same way when `escaped`: a
 * JSON string value inside another JSON text, as safetensors' header holds it).
 */
export function fill(file: string, place: StampPlace, pending: string, text: string, options: { readonly escaped?: boolean } = {}): void {
  const encode = (s: string) => Buffer.from(options.escaped ? JSON.stringify(s).slice(1, -1) : s);
  const find = encode(pending);
  // Spaces stay one byte escaped or not: the text is padded to the placeholder's length as written.
  const bare = encode(text);
  if (bare.length > find.length) throw new Error(`stamp of ${bare.length} bytes is longer than its ${find.length}-byte place`);
  const write = Buffer.concat([bare, Buffer.alloc(find.length - bare.length, 0x20)]);
  const fd = fs.openSync(file, 'r+');
  try {
    const size = fs.fstatSync(fd).size;
    const reach = place === 'head' ? HEAD : TAIL;
    const start = place === 'head' ? 0 : Math.max(0, size - reach);
    const window = Buffer.alloc(Math.min(reach, size));
    fs.readSync(fd, window, 0, window.length, start);
    const at = window.indexOf(find);
    if (at < 0) throw new Error(`the placeholder of the stamp is not in ${file}`);
    fs.writeSync(fd, write, 0, write.length, start + at);
    if (place === 'zip-entry') fixZipCrc(fd, window, start, start + at, write);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A stored zip entry's CRC-32 is written twice: in the data descriptor right after its data, and in its
 * central directory record (the entry is the archive's last but one, so both are in the window).
 */
function fixZipCrc(fd: number, window: Buffer, start: number, dataAt: number, data: Buffer): void {
  const crc = crc32(data) >>> 0;
  const descriptor = dataAt + data.length;
  const sig = window.readUInt32LE(descriptor - start);
  if (sig !== 0x08074b50) throw new Error('no data descriptor after the stamp entry');
  const b = Buffer.alloc(4);
  b.writeUInt32LE(crc);
  fs.writeSync(fd, b, 0, 4, descriptor + 4);
  // The central directory record naming the entry: signature 0x02014b50, CRC-32 at +16, name length
  // at +28, name at +46.
  const suffix = `/${STAMP_ENTRY}`;
  const signature = Buffer.from([0x50, 0x4b, 0x01, 0x02]);
  for (let at = window.indexOf(signature, descriptor - start); at >= 0 && at + 46 <= window.length; at = window.indexOf(signature, at + 1)) {
    const nameLength = window.readUInt16LE(at + 28);
    const name = window.toString('utf8', at + 46, Math.min(window.length, at + 46 + nameLength));
    if (name.endsWith(suffix)) {
      fs.writeSync(fd, b, 0, 4, start + at + 16);
      return;
    }
  }
  throw new Error('no central directory record for the stamp entry');
}

/** The stamp's JSON as read from a file's own field; undefined when there is none. */
export function parseStamp(text: string | undefined, file: string): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  try {
    const v = JSON.parse(text.trim()) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch (e) {
    throw new FormatError(file, 'a stamped output', `its ${STAMP_KEY} entry is not JSON (${(e as Error).message})`);
  }
  throw new FormatError(file, 'a stamped output', `its ${STAMP_KEY} entry is not a JSON object`);
}
