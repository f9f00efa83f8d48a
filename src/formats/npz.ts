// numpy's .npz: a zip archive of .npy files, one per array, each named after its array plus ".npy"
// (np.savez stores them, np.savez_compressed deflates them). Names may hold '/', which numpy.load keeps
// as part of the key ("sample0/input"). Reading checks every declared size against a limit before
// anything is allocated; writing streams each array through the shared zip writer.
import { DecodeError, FormatError } from '../errors';
import { writeFileAtomic } from './atomic-file';
import { BufferSource } from './bytes';
import { NpyArray, npyHeader, NPY_FORMAT, readNpy } from './npy';
import { printable } from './printable';
import { FileSink } from './sink';
import { readZipDirectory, readZipEntry, UncachedFileSource } from './zip/reader';
import { ZipWriter } from './zip/writer';
import { numel, dtypeInfo } from '../dtype';

export const NPZ_FORMAT = 'an .npz archive';

/** Node's buffers stop near 4 GiB; an array for the check is far smaller. */
export const MAX_NPZ_ENTRY = 2 ** 31;

export interface ReadNpzOptions {
  /** Largest entry (its .npy bytes, header included) to inflate or read. Default MAX_NPZ_ENTRY. */
  readonly maxEntryBytes?: number;
}

/** Every array of the archive by name (the entry's name without ".npy"), in archive order. */
export function readNpz(file: string, options: ReadNpzOptions = {}): Map<string, NpyArray> {
  const limit = options.maxEntryBytes ?? MAX_NPZ_ENTRY;
  const src = new UncachedFileSource(file);
  try {
    let entries;
    try {
      entries = readZipDirectory(src);
    } catch (e) {
      if (e instanceof DecodeError) throw new FormatError(file, NPZ_FORMAT, e.message, { offset: e.offset });
      throw e;
    }
    const arrays = new Map<string, NpyArray>();
    for (const e of entries) {
      if (e.name.endsWith('/') && e.size === 0) continue; // a folder entry some zip tools add
      if (!e.name.endsWith('.npy')) {
        throw new FormatError(file, NPZ_FORMAT, `entry ${printable(e.name)} is not a .npy array (every entry of an .npz is NAME.npy)`, { offset: e.localHeaderOffset });
      }
      const name = e.name.slice(0, -'.npy'.length);
      let bytes: Uint8Array;
      try {
        bytes = readZipEntry(src, e, limit);
      } catch (err) {
        if (err instanceof DecodeError) throw new FormatError(file, NPZ_FORMAT, err.message, { offset: err.offset });
        throw err;
      }
      const label = `${file} (array ${printable(name)})`;
      try {
        arrays.set(name, readNpy(new BufferSource(label, bytes)));
      } catch (err) {
        if (err instanceof DecodeError) throw new FormatError(label, NPY_FORMAT, err.message, { offset: err.offset });
        throw err;
      }
    }
    return arrays;
  } finally {
    src.close();
  }
}

/** Arrays into an open sink as an .npz (stored entries, as np.savez writes them). */
export function writeNpzTo(sink: FileSink, arrays: Iterable<readonly [string, NpyArray]>): void {
  const zip = new ZipWriter(sink);
  const names = new Set<string>();
  for (const [name, a] of arrays) {
    if (names.has(name)) throw new Error(`two arrays named ${name}`);
    names.add(name);
    const expected = numel(a.shape) * dtypeInfo(a.dtype).size;
    if (a.data.length !== expected) throw new RangeError(`array ${name}: ${a.dtype} (${a.shape.join(', ')}) needs ${expected} bytes, not ${a.data.length}`);
    const header = npyHeader(a.dtype, a.shape);
    zip.add(`${name}.npy`, header.length + a.data.length, (out) => {
      out.write(header);
      out.write(a.data);
    });
  }
  zip.finish();
}

/** Writes an .npz atomically (a staged file renamed over `file`); returns its size in bytes. */
export function writeNpz(file: string, arrays: Iterable<readonly [string, NpyArray]>): number {
  return writeFileAtomic(file, (sink) => (writeNpzTo(sink, arrays), sink.written), { direct: false });
}
