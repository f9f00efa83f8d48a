// Reads a PyTorch zip checkpoint (torch.save since 1.6): checks the archive, unpickles data.pkl through the
// allow-list, and returns the state dict with every tensor still a range of the file.
import { DType, dtypeInfo } from '../../dtype';
import { DecodeError, FormatError, UserError } from '../../errors';
import { ByteRange, ByteSource, FileSource } from '../bytes';
import { printable } from '../printable';
import { Tensor } from '../../tensor';
import { StateDict, unwrapStateDict } from '../state-dict';
import { CheckedStorageSource } from './checked-storage';
import { ByteSwapSource } from './lazy-views';
import { legacyKind, RESAVE_HINT } from './legacy';
import { describe, PyDict, unpickle } from './pickle';
import { TensorValue, torchHooks } from './torch-globals';
import { readZipDirectory, readZipEntry, UncachedFileSource, ZipEntry } from '../zip/reader';
import { STAMP_ENTRY, STAMP_KEY } from '../stamp';

const FORMAT = 'a PyTorch checkpoint';
/** data.pkl of a state dict is kilobytes to a few megabytes; anything near this is hostile. */
export const MAX_PICKLE_BYTES = 64 << 20;

export interface ReadPthOptions {
  /** Take this top-level entry (e.g. 'model') instead of guessing among the usual wrappers. */
  readonly entry?: string;
}

export function readPth(file: string, options: ReadPthOptions = {}): StateDict {
  const dir = new UncachedFileSource(file);
  let data: FileSource | undefined;
  let ok = false;
  try {
    const result = load(file, dir, options, () => (data ??= new FileSource(file)));
    ok = true;
    return { ...result, close: () => data?.close() };
  } catch (e) {
    if (e instanceof DecodeError) throw new FormatError(file, FORMAT, e.message, { offset: e.offset });
    throw e;
  } finally {
    dir.close();
    if (!ok) data?.close();
  }
}

function load(file: string, dir: ByteSource, options: ReadPthOptions, dataSource: () => FileSource): StateDict {
  const head = dir.read(0, Math.min(dir.length, 512));
  if (!(head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04)) {
    const legacy = legacyKind(head);
    if (legacy) {
      throw new UserError(`${file} is a legacy ${legacy === 'tar' ? 'tar-format ' : ''}PyTorch checkpoint (saved by PyTorch before 1.6), which is not supported`, {
        code: 'UNSUPPORTED',
        hint: RESAVE_HINT,
      });
    }
    const looksSafetensors = head.length > 8 && head[8] === 0x7b;
    throw new FormatError(file, FORMAT, 'no zip signature', { offset: 0, hint: looksSafetensors ? 'it looks like a safetensors file; name it .safetensors' : undefined });
  }

  const entries = readZipDirectory(dir);
  const byName = new Map(entries.map((e) => [e.name, e]));
  if (entries.some((e) => /^[^/]+\/(constants\.pkl|code\/)/.test(e.name))) {
    throw new UserError(`${file} is a TorchScript archive (torch.jit.save), not a state dict checkpoint`, {
      code: 'UNSUPPORTED',
      hint: 'save the weights with torch.save(model.state_dict(), "weights.pth")',
    });
  }
  const pickles = entries.filter((e) => /^[^/]+\/data\.pkl$/.test(e.name));
  if (pickles.length !== 1) {
    throw new DecodeError(pickles.length ? `zip archive has ${pickles.length} data.pkl entries` : 'zip archive has no <root>/data.pkl', 0);
  }
  const pkl = pickles[0];
  const root = pkl.name.slice(0, -'/data.pkl'.length);

  const small = (e: ZipEntry, limit: number): Uint8Array => readZipEntry(dir, e, limit);
  const versionEntry = byName.get(`${root}/.data/version`) ?? byName.get(`${root}/version`);
  if (!versionEntry) throw new DecodeError(`zip archive has no ${printable(root)}/version`, 0);
  const version = Buffer.from(small(versionEntry, 64)).toString('latin1').trim();
  if (!/^[1-9][0-9]{0,3}$/.test(version)) throw new DecodeError(`archive version '${printable(version, 20)}' is not a number`, versionEntry.dataOffset);

  let bigEndian = false;
  const orderEntry = byName.get(`${root}/byteorder`);
  if (orderEntry) {
    const order = Buffer.from(small(orderEntry, 16)).toString('latin1');
    if (order !== 'little' && order !== 'big') throw new DecodeError(`byteorder record says '${printable(order, 20)}'`, orderEntry.dataOffset);
    bigEndian = order === 'big';
  }

  const storages = new Map<string, CheckedStorageSource>();
  const hooks = torchHooks({
    file,
    fileBytes: dir.length,
    storageRange(key: string, dtype: DType, numel: number, at: number): ByteRange {
      const e = byName.get(`${root}/data/${key}`);
      if (!e) throw new DecodeError(`storage ${printable(key)} has no ${printable(`${root}/data/${key}`)} entry`, at);
      if (e.method !== 0) {
        throw new UserError(`${file} stores storage ${printable(key)} compressed (zip method ${e.method}); only uncompressed storages are read`, {
          code: 'UNSUPPORTED',
          hint: 're-save with torch.save, which stores storages uncompressed (or re-zip with `zip -0`)',
        });
      }
      const size = dtypeInfo(dtype).size;
      if (e.size !== numel * size) throw new DecodeError(`storage ${printable(key)} is ${e.size} bytes but holds ${numel} ${dtype} (${numel * size} bytes)`, e.dataOffset);
      let checked = storages.get(key);
      if (!checked) {
        checked = new CheckedStorageSource(dataSource(), { key: printable(`${root}/data/${key}`), offset: e.dataOffset, length: e.size, crc32: e.crc32 }, FORMAT);
        storages.set(key, checked);
      }
      const range: ByteRange = { source: checked, offset: e.dataOffset, length: e.size };
      if (!bigEndian || size === 1) return range;
      return { source: new ByteSwapSource(`${file} storage ${key}`, range, size), offset: 0, length: e.size };
    },
  });

  const value = unpickle(small(pkl, MAX_PICKLE_BYTES), hooks, { base: pkl.method === 0 ? pkl.dataOffset : 0 });
  if (!(value instanceof PyDict)) {
    throw new UserError(`${file} holds a ${describe(value)}, not a dictionary of tensors`, { code: 'BAD_INPUT', hint: 'save the weights with torch.save(model.state_dict(), "weights.pth")' });
  }
  const origin = new Map<Tensor, TensorValue>();
  const asTensor = (v: unknown) => {
    if (!(v instanceof TensorValue)) return undefined;
    origin.set(v.tensor, v);
    return v.tensor;
  };
  const unwrapped = unwrapStateDict(value, { entry: options.entry, file, asTensor });

  // Notes describe the tensors taken, not the rest of the checkpoint (optimizer state etc.).
  const notes = [...unwrapped.notes];
  const taken = [...unwrapped.tensors.values()].map((t) => origin.get(t) as TensorValue);
  const perStorage = new Map<string, number>();
  for (const v of taken) perStorage.set(v.storage.key, (perStorage.get(v.storage.key) ?? 0) + 1);
  const strided = taken.filter((v) => !v.contiguous).length;
  const shared = [...perStorage.values()].filter((n) => n > 1).length;
  const devices = [...new Set(taken.map((v) => v.storage.location))].filter((l) => l !== 'cpu');
  if (bigEndian) notes.push('storages are big-endian; their bytes are swapped when read');
  if (strided) notes.push(`${strided} tensor(s) are strided views; their elements are gathered when read`);
  if (shared) notes.push(`${shared} storage(s) are shared by several tensors`);
  if (devices.length) notes.push(`storages saved on ${devices.join(', ')} are read to CPU`);
  const stampEntry = byName.get(`${root}/${STAMP_ENTRY}`);
  const metadata: Record<string, string> = stampEntry ? { [STAMP_KEY]: Buffer.from(small(stampEntry, 64 << 10)).toString("utf8") } : {};
  return { tensors: unwrapped.tensors, metadata, notes };
}

