// PyTorch zip checkpoints: seeded round trips, the archive layout torch expects (checked with yauzl),
// storages with offsets, strides, sharing and big-endian bytes, wrappers, and strict refusals.
import * as fs from 'fs';
import * as path from 'path';
import * as yauzl from 'yauzl';
import * as yazl from 'yazl';
import { FormatError, UserError } from '../../../src/errors';
import { readPth, writePth } from '../../../src/formats/pth';
import { crc32, crc32Portable } from '../../../src/formats/zip/crc32';
import { tensorBytes, tensorFromArray } from '../../../src/tensor';
import { seededRandom } from '../../../src/verify/random';
import {
  bytes, bytesRead, dict, expectSameTensors, f32, f32Of, glob, hasReadCounter, int, orderedDict, pickle,
  randomStateDict, rebuildTensor, storageRef, str, tempDir, writeArchive,
} from './helpers';

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const file = (name: string) => path.join(dir, name);

function refused(f: string): UserError {
  try {
    readPth(f);
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    return e as UserError;
  }
  throw new Error(`${f} was accepted`);
}

interface ZipListing {
  name: string;
  dataStart: number;
  size: number;
  crcOk: boolean;
}

/** Lists an archive with yauzl (an independent zip reader) and checks every entry's CRC. */
async function listWithYauzl(f: string): Promise<ZipListing[]> {
  const zip = await new Promise<yauzl.ZipFile>((res, rej) => yauzl.open(f, { lazyEntries: true, autoClose: false }, (e, z) => (e ? rej(e) : res(z))));
  const out: ZipListing[] = [];
  try {
    for (;;) {
      const entry = await new Promise<yauzl.Entry | null>((res, rej) => {
        zip.once('entry', res);
        zip.once('end', () => res(null));
        zip.once('error', rej);
        zip.readEntry();
      });
      zip.removeAllListeners('entry').removeAllListeners('end').removeAllListeners('error');
      if (!entry) break;
      const header = await new Promise<{ fileDataStart: number }>((res, rej) =>
        (zip as unknown as { readLocalFileHeader(e: yauzl.Entry, o: object, cb: (err: Error | null, h: { fileDataStart: number }) => void): void }).readLocalFileHeader(entry, { minimal: true }, (e, h) => (e ? rej(e) : res(h))),
      );
      const chunks: Buffer[] = [];
      await new Promise<void>((res, rej) =>
        zip.openReadStream(entry, (e, s) => {
          if (e) return rej(e);
          s.on('data', (c: Buffer) => chunks.push(c)).on('end', res).on('error', rej);
        }),
      );
      out.push({ name: entry.fileName, dataStart: header.fileDataStart, size: entry.uncompressedSize, crcOk: crc32(Buffer.concat(chunks)) === entry.crc32 });
    }
  } finally {
    zip.close();
  }
  return out;
}

describe('pth round trip', () => {
  test.each([1, 2, 3, 4, 5, 6])('seed %i: random state dicts survive writePth then readPth', (seed) => {
    const rng = seededRandom(100 + seed);
    const sd = randomStateDict(rng, rng.int(1, 12));
    const f = file(`rt-${seed}.pth`);
    writePth(f, sd, { forceZip64: seed % 3 === 0 });
    const back = readPth(f);
    expectSameTensors(back.tensors, sd);
    expect(back.notes).toEqual([]);
  });

  test('the archive is what torch.save writes: root named after the file, aligned stored entries, valid CRCs', async () => {
    const f = file('RepVGG-A0-deploy.pth');
    const sd = randomStateDict(seededRandom(7), 5);
    writePth(f, sd);
    const listing = await listWithYauzl(f);
    expect(listing.map((e) => e.name)).toEqual([
      'RepVGG-A0-deploy/data.pkl', 'RepVGG-A0-deploy/byteorder',
      ...[...sd.keys()].map((_, i) => `RepVGG-A0-deploy/data/${i}`), 'RepVGG-A0-deploy/version',
    ]);
    for (const e of listing) {
      expect({ name: e.name, aligned: e.dataStart % 64, crcOk: e.crcOk }).toEqual({ name: e.name, aligned: 0, crcOk: true });
    }
  });

  test('zip64 fields are readable by yauzl too', async () => {
    const f = file('zip64.pth');
    writePth(f, randomStateDict(seededRandom(8), 3), { forceZip64: true });
    const listing = await listWithYauzl(f);
    expect(listing.every((e) => e.crcOk && e.dataStart % 64 === 0)).toBe(true);
  });

  test('data.pkl matches what torch.save pickles for a state dict', () => {
    const f = file('one.pth');
    writePth(f, [['w', tensorFromArray([2, 3], Float32Array.from([1, 2, 3, 4, 5, 6]))]], { archiveName: 'archive' });
    // Assembled by hand: OrderedDict([('w', _rebuild_tensor_v2(('storage', FloatStorage, '0', 'cpu', 6), 0, (2, 3), (3, 1), False, OrderedDict()))])
    const expected = bytes(
      0x80, 2, glob('collections', 'OrderedDict'), 0x71, 0, 0x29, 0x52, 0x28, str('w'), glob('torch._utils', '_rebuild_tensor_v2'), 0x71, 1,
      0x28, 0x28, str('storage'), 0x71, 2, glob('torch', 'FloatStorage'), 0x71, 3, str('0'), str('cpu'), 0x71, 4, 0x4b, 6, 0x74, 0x51,
      0x4b, 0, 0x4b, 2, 0x4b, 3, 0x86, 0x4b, 3, 0x4b, 1, 0x86, 0x89, 0x68, 0, 0x29, 0x52, 0x74, 0x52, 0x75, 0x2e,
    );
    const zipBytes = fs.readFileSync(f);
    const start = zipBytes.indexOf(Buffer.from(expected.subarray(0, 20)));
    expect(Buffer.from(zipBytes.subarray(start, start + expected.length))).toEqual(Buffer.from(expected));
  });

  test('crc32: native and portable agree', () => {
    const rng = seededRandom(9);
    const data = Uint8Array.from({ length: 10_000 }, () => rng.int(0, 255));
    expect(crc32(data)).toBe(crc32Portable(data));
    expect(crc32(data.subarray(5000), crc32(data.subarray(0, 5000)))).toBe(crc32Portable(data));
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
  });
});

describe('pth storages', () => {
  const values = Array.from({ length: 12 }, (_, i) => i + 0.5);

  test('offsets, strides (a transposed view), shared storages and Parameters', () => {
    const s = () => storageRef('FloatStorage', '0', 12);
    const p = pickle(orderedDict([
      ['whole', rebuildTensor(s(), 0, [3, 4], [4, 1])],
      ['row1', rebuildTensor(s(), 4, [4], [1])],
      ['transposed', rebuildTensor(s(), 0, [4, 3], [1, 4])],
      ['column2', rebuildTensor(s(), 2, [3, 1], [4, 1])],
      ['every_other', rebuildTensor(s(), 1, [2, 2], [4, 2])],
      ['scalar', rebuildTensor(s(), 11, [], [])],
      ['empty', rebuildTensor(s(), 12, [0, 5], [5, 1])],
      ['param', bytes(glob('torch._utils', '_rebuild_parameter'), 0x28, rebuildTensor(s(), 8, [2, 2], [2, 1]), 0x88, glob('collections', 'OrderedDict'), 0x29, 0x52, 0x74, 0x52)],
    ]));
    const f = file('views.pth');
    writeArchive(f, { pickle: p, storages: [['0', f32(values)]] });
    const sd = readPth(f);
    const get = (k: string) => f32Of(sd.tensors.get(k)!);
    expect(get('whole')).toEqual(values);
    expect(get('row1')).toEqual(values.slice(4, 8));
    expect(get('transposed')).toEqual([0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11].map((i) => values[i]));
    expect(get('column2')).toEqual([2, 6, 10].map((i) => values[i]));
    expect(get('every_other')).toEqual([1, 3, 5, 7].map((i) => values[i]));
    expect(get('scalar')).toEqual([11.5]);
    expect(get('empty')).toEqual([]);
    expect(sd.tensors.get('empty')!.shape).toEqual([0, 5]);
    expect(get('param')).toEqual(values.slice(8, 12));
    // contiguous views stay ranges of the file itself; strided ones gather on read
    expect(sd.tensors.get('row1')!.data.kind).toBe('range');
    expect(sd.notes).toEqual(expect.arrayContaining([expect.stringMatching(/3 tensor\(s\) are strided views/), expect.stringMatching(/1 storage\(s\) are shared/)]));
    // partial reads of a strided view
    const t = sd.tensors.get('transposed')!;
    if (t.data.kind !== 'range') throw new Error('expected a range');
    const part = t.data.range.source.read(t.data.range.offset + 6, 9);
    expect(Buffer.from(part)).toEqual(Buffer.from(tensorBytes(t)).subarray(6, 15));
  });

  test('big-endian storages are byte-swapped, strided ones too', () => {
    const be = Buffer.alloc(24);
    values.slice(0, 6).forEach((v, i) => be.writeFloatBE(v, 4 * i));
    const halves = Buffer.from([0x3c, 0x00, 0xc0, 0x00]); // 1.0, -2.0 as big-endian float16
    const p = pickle(orderedDict([
      ['a', rebuildTensor(storageRef('FloatStorage', '0', 6), 0, [2, 3], [3, 1])],
      ['at', rebuildTensor(storageRef('FloatStorage', '0', 6), 0, [3, 2], [1, 3])],
      ['h', rebuildTensor(storageRef('HalfStorage', '1', 2), 0, [2], [1])],
    ]));
    const f = file('big-endian.pth');
    writeArchive(f, { pickle: p, storages: [['0', be], ['1', halves]], byteorder: 'big' });
    const sd = readPth(f);
    expect(f32Of(sd.tensors.get('a')!)).toEqual(values.slice(0, 6));
    expect(f32Of(sd.tensors.get('at')!)).toEqual([0, 3, 1, 4, 2, 5].map((i) => values[i]));
    expect(Array.from(tensorBytes(sd.tensors.get('h')!))).toEqual([0x00, 0x3c, 0x00, 0xc0]);
    expect(sd.notes).toEqual(expect.arrayContaining([expect.stringMatching(/big-endian/)]));
  });

  test('every dtype of the table maps to its storage type', () => {
    const sd = randomStateDict(seededRandom(11), 20);
    const f = file('dtypes.pth');
    writePth(f, sd);
    expectSameTensors(readPth(f).tensors, sd);
  });

  test('reading does not touch storage bytes until a tensor is asked for', () => {
    if (!hasReadCounter()) return;
    const big = 64 << 20;
    const p = pickle(orderedDict([['big', rebuildTensor(storageRef('ByteStorage', '0', big), 0, [big], [1])]]));
    const f = file('lazy.pth');
    writeArchive(f, { pickle: p, storages: [['0', new Uint8Array(big)]] });
    const before = bytesRead();
    const sd = readPth(f);
    expect(bytesRead() - before).toBeLessThan(1 << 20);
    expect(tensorBytes(sd.tensors.get('big')!).length).toBe(big);
    expect(bytesRead() - before).toBeGreaterThanOrEqual(big);
  });
});

describe('pth wrappers', () => {
  const t = () => rebuildTensor(storageRef('FloatStorage', '0', 2), 0, [2], [1]);
  const write = (name: string, body: Uint8Array) => {
    const f = file(name);
    writeArchive(f, { pickle: pickle(body), storages: [['0', f32([1, 2])]] });
    return f;
  };

  test('takes the ema entry first and says so', () => {
    const f = write('ema.pth', dict([['epoch', int(3)], ['model', orderedDict([['w', t()]])], ['ema', orderedDict([['module.w', t()]])]]));
    const sd = readPth(f);
    expect([...sd.tensors.keys()]).toEqual(['w']);
    expect(sd.notes).toEqual(["took the 'ema' entry (also present: 'model')", "stripped 'module.' prefix"]);
    expect([...readPth(f, { entry: 'model' }).tensors.keys()]).toEqual(['w']);
  });

  test.each([['state_dict'], ['model']])('takes a %s wrapper', (key) => {
    const sd = readPth(write(`${key}.pth`, dict([['optimizer', dict([])], [key, orderedDict([['a.b', t()]])]])));
    expect([...sd.tensors.keys()]).toEqual(['a.b']);
    expect(sd.notes).toEqual([`took the '${key}' entry`]);
  });

  test('strips module. only when every key has it, and only as a prefix', () => {
    expect([...readPth(write('mixed.pth', orderedDict([['module.a', t()], ['b.module.c', t()]]))).tensors.keys()]).toEqual(['module.a', 'b.module.c']);
    expect([...readPth(write('all.pth', orderedDict([['module.a', t()], ['module.b.module.c', t()]]))).tensors.keys()]).toEqual(['a', 'b.module.c']);
  });

  test('refuses a checkpoint without a state dict, naming its keys', () => {
    const e = refused(write('none.pth', dict([['epoch', int(3)], ['acc', int(70)]])));
    expect(e.message).toMatch(/holds no state dict.*'epoch', 'acc'/);
  });

  test('an unknown entry option is a usage error', () => {
    expect(() => readPth(write('opt.pth', dict([['model', orderedDict([['w', t()]])]])), { entry: 'nope' })).toThrow(/no top-level entry 'nope'.*'model'/);
  });
});

describe('pth archives from other zip writers', () => {
  test('a re-zipped archive (yazl, deflated data.pkl, stored storages, no alignment) reads the same', async () => {
    const p = pickle(orderedDict([['w', rebuildTensor(storageRef('FloatStorage', '0', 3), 0, [3], [1])]]));
    const f = file('rezipped.pth');
    const zip = new yazl.ZipFile();
    zip.addBuffer(Buffer.from(p), 'some-root/data.pkl', { compress: true });
    zip.addBuffer(Buffer.from(f32([1, 2, 3])), 'some-root/data/0', { compress: false });
    zip.addBuffer(Buffer.from('3\n'), 'some-root/version', { compress: true });
    zip.end();
    await new Promise<void>((res, rej) => zip.outputStream.pipe(fs.createWriteStream(f)).on('close', res).on('error', rej));
    expect(f32Of(readPth(f).tensors.get('w')!)).toEqual([1, 2, 3]);
  });
});

describe('pth refusals', () => {
  const good = () => pickle(orderedDict([['w', rebuildTensor(storageRef('FloatStorage', '0', 2), 0, [2], [1])]]));

  test('a storage whose bytes fail their CRC is refused when it is first read, naming it; others read', () => {
    const f = file('crc.pth');
    const two = pickle(orderedDict([['a', rebuildTensor(storageRef('FloatStorage', '0', 2), 0, [2], [1])], ['b', rebuildTensor(storageRef('FloatStorage', '1', 2), 0, [2], [1])]]));
    writeArchive(f, { pickle: two, storages: [['0', f32([1, 2])], ['1', f32([3, 4])]] });
    const raw = fs.readFileSync(f);
    const at = raw.indexOf(Buffer.from(f32([3, 4])));
    raw[at] ^= 1;
    fs.writeFileSync(f, raw);
    const sd = readPth(f);
    try {
      expect(f32Of(sd.tensors.get('a')!)).toEqual([1, 2]);
      let e: unknown;
      try {
        tensorBytes(sd.tensors.get('b')!);
      } catch (err) {
        e = err;
      }
      expect(e).toBeInstanceOf(FormatError);
      expect((e as Error).message).toBe(`${f} is not a PyTorch checkpoint (storage archive/data/1 fails its CRC check: its bytes are not the ones saved at byte ${at})`);
      // and again, without reading it twice
      expect(() => tensorBytes(sd.tensors.get('b')!)).toThrow(/fails its CRC check/);
    } finally {
      sd.close?.();
    }
  });

  test('legacy (pre-1.6) checkpoints are refused with how to re-save them', () => {
    const f = file('legacy.pth');
    // torch.save(..., _use_new_zipfile_serialization=False) starts with a pickled magic number
    fs.writeFileSync(f, bytes(0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e, 0x80, 0x02, 0x4d, 0xe9, 0x03, 0x2e));
    const e = refused(f);
    expect(e.code).toBe('UNSUPPORTED');
    expect(e.message).toMatch(/legacy PyTorch checkpoint/);
    expect(e.hint).toMatch(/torch\.save\(torch\.load\('in\.pth'\), 'out\.pth'\)/);
    const tar = file('legacy-tar.pth');
    const block = Buffer.alloc(1024);
    block.write('ustar', 257, 'latin1');
    fs.writeFileSync(tar, block);
    expect(refused(tar).message).toMatch(/legacy tar-format/);
  });

  test('a file that is not a zip says so', () => {
    const f = file('text.pth');
    fs.writeFileSync(f, 'hello world, not a checkpoint');
    expect(refused(f).message).toBe(`${f} is not a PyTorch checkpoint (no zip signature at byte 0)`);
  });

  test('a truncated archive is refused', () => {
    const f = file('full.pth');
    writeArchive(f, { pickle: good(), storages: [['0', f32([1, 2])]] });
    const cut = file('cut.pth');
    fs.writeFileSync(cut, fs.readFileSync(f).subarray(0, 300));
    expect(refused(cut)).toBeInstanceOf(FormatError);
    expect(refused(cut).message).toMatch(/no zip end-of-central-directory record/);
  });

  test('a storage whose size disagrees with its element count is refused', () => {
    const f = file('size.pth');
    writeArchive(f, { pickle: good(), storages: [['0', f32([1, 2, 3])]] });
    expect(refused(f).message).toMatch(/storage 0 is 12 bytes but holds 2 float32 \(8 bytes\)/);
  });

  test('a view reaching past its storage is refused', () => {
    const f = file('past.pth');
    writeArchive(f, { pickle: pickle(orderedDict([['w', rebuildTensor(storageRef('FloatStorage', '0', 2), 1, [2], [1])]])), storages: [['0', f32([1, 2])]] });
    expect(refused(f).message).toMatch(/reaches past its storage 0 of 2 elements/);
  });

  test('a missing storage entry, a missing version, a corrupted data.pkl are refused', () => {
    const noStorage = file('nostorage.pth');
    writeArchive(noStorage, { pickle: good() });
    expect(refused(noStorage).message).toMatch(/storage 0 has no archive\/data\/0 entry/);
    const noVersion = file('noversion.pth');
    writeArchive(noVersion, { pickle: good(), storages: [['0', f32([1, 2])]], version: null });
    expect(refused(noVersion).message).toMatch(/no archive\/version/);
    const crc = file('crc.pth');
    writeArchive(crc, { pickle: good(), storages: [['0', f32([1, 2])]] });
    const b = fs.readFileSync(crc);
    b[b.indexOf('collections') + 1] ^= 0x20;
    fs.writeFileSync(crc, b);
    expect(refused(crc).message).toMatch(/data\.pkl fails its CRC check/);
  });

  test('TorchScript archives are named as such', () => {
    const f = file('script.pt');
    writeArchive(f, { pickle: good(), root: 'script', extra: [['script/constants.pkl', pickle(bytes(0x29))], ['script/code/__torch__/m.py', Buffer.from('x')]] });
    const e = refused(f);
    expect(e.code).toBe('UNSUPPORTED');
    expect(e.message).toMatch(/is a TorchScript archive/);
  });

  test('an archive with no data.pkl or two of them is refused', () => {
    const two = file('two.pth');
    writeArchive(two, { pickle: good(), storages: [['0', f32([1, 2])]], extra: [['other/data.pkl', good()]] });
    expect(refused(two).message).toMatch(/has 2 data\.pkl entries/);
  });

  test('compressed storages are refused clearly', () => {
    // Build an archive then flip the storage entry's method to deflate in both headers.
    const f = file('deflate.pth');
    writeArchive(f, { pickle: good(), storages: [['0', f32([1, 2])]] });
    const b = fs.readFileSync(f);
    const name = Buffer.from('archive/data/0');
    for (let at = b.indexOf(name); at >= 0; at = b.indexOf(name, at + 1)) {
      if (b.readUInt32LE(at - 30) === 0x04034b50) b.writeUInt16LE(8, at - 30 + 8);
      if (b.readUInt32LE(at - 46) === 0x02014b50) b.writeUInt16LE(8, at - 46 + 10);
    }
    fs.writeFileSync(f, b);
    const e = refused(f);
    expect(e.code).toBe('UNSUPPORTED');
    expect(e.message).toMatch(/stores storage 0 compressed/);
  });
});
