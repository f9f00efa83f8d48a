// The .npy / .npz codec against numpy: files numpy wrote (fixtures/npy, see fixtures/gen/npy_cases.py)
// read back to the elements numpy listed, and what we write is byte for byte what numpy writes. Property
// tests with recorded seeds round-trip random dtypes and shapes; damaged headers are refused with a reason.
import * as fs from 'fs';
import * as path from 'path';
import { DType, DTYPES, dtypeInfo, numel } from '../../src/dtype';
import { DecodeError, FormatError, UserError } from '../../src/errors';
import { BufferSource } from '../../src/formats/bytes';
import { NpyArray, npyBytes, npyHeader, NpyVersion, readNpy, readNpyFile, readNpyHeader, swapBytes } from '../../src/formats/npy';
import { readNpz, writeNpz } from '../../src/formats/npz';
import { readZipDirectory, readZipEntry, UncachedFileSource } from '../../src/formats/zip/reader';
import { FIXTURES, tempDir } from '../helpers/fixtures';
import { thrown } from '../helpers/errors';
import { forSeeds, Rng, SEEDS } from '../helpers/random';

const ROOT = path.join(FIXTURES, 'npy');

interface ArrayEntry {
  file: string;
  dtype: DType;
  descr: string;
  shape: number[];
  version: string;
  byteorder: 'little' | 'big' | 'none';
  le_hex: string;
}
interface Manifest {
  numpy: string;
  arrays: ArrayEntry[];
  refused: { file: string; says: string }[];
  npz: { file: string; method: string; arrays: Record<string, { dtype: DType; shape: number[]; le_hex: string }> }[];
}
const manifest: Manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'manifest.json'), 'utf8'));

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const NPY_DTYPES = [...DTYPES.values()].filter((d) => d.npy !== undefined).map((d) => d.dtype);

describe('numpy-written .npy files', () => {
  it('cover every dtype numpy shares with the dtype table, both byte orders and headers 1.0, 2.0, 3.0', () => {
    expect(new Set(manifest.arrays.map((a) => a.dtype))).toEqual(new Set(NPY_DTYPES));
    expect(new Set(manifest.arrays.map((a) => a.byteorder))).toEqual(new Set(['little', 'big', 'none']));
    expect(new Set(manifest.arrays.map((a) => a.version))).toEqual(new Set(['1.0', '2.0', '3.0']));
  });

  it.each(manifest.arrays.map((a) => [a.file, a] as const))('%s reads to the elements numpy listed', (file, a) => {
    const got = readNpyFile(path.join(ROOT, 'arrays', file));
    expect(got.dtype).toBe(a.dtype);
    expect(got.shape).toEqual(a.shape);
    expect(hex(got.data)).toBe(a.le_hex);
    const h = readNpyHeader(new BufferSource(file, fs.readFileSync(path.join(ROOT, 'arrays', file))));
    expect(`${h.version}.0`).toBe(a.version);
    expect(h.bigEndian).toBe(a.byteorder === 'big');
  });

  // numpy writes little-endian files with '<' (or '|'); ours must be the same bytes
  const littleEndian = manifest.arrays.filter((a) => a.byteorder !== 'big');
  it.each(littleEndian.map((a) => [a.file, a] as const))('we write %s byte for byte as numpy does', (file, a) => {
    const version = a.version === '1.0' ? undefined : (Number(a.version[0]) as NpyVersion);
    const ours = npyBytes({ dtype: a.dtype, shape: a.shape, data: Buffer.from(a.le_hex, 'hex') }, { version });
    expect(Buffer.from(ours).equals(fs.readFileSync(path.join(ROOT, 'arrays', file)))).toBe(true);
  });

  it.each(manifest.refused.map((r) => [r.file, r.says] as const))('%s is refused, saying %s, with a fix', (file, says) => {
    const e = thrown(() => readNpyFile(path.join(ROOT, 'refused', file))) as UserError;
    expect(e).toBeInstanceOf(UserError);
    expect(e).not.toBeInstanceOf(FormatError);
    expect(e.code).toBe('UNSUPPORTED');
    expect(e.message).toContain(says);
    expect(e.hint).toMatch(/np\./);
  });
});

describe('numpy-written .npz archives', () => {
  it.each(manifest.npz.map((z) => [z.file, z] as const))('%s reads to the arrays numpy listed', (file, z) => {
    const got = readNpz(path.join(ROOT, 'npz', file));
    expect([...got.keys()].sort()).toEqual(Object.keys(z.arrays).sort());
    for (const [name, want] of Object.entries(z.arrays)) {
      const a = got.get(name)!;
      expect([name, a.dtype, a.shape]).toEqual([name, want.dtype, want.shape]);
      expect(hex(a.data)).toBe(want.le_hex);
    }
  });

  it('the deflated archive really is deflated, the stored one stored', () => {
    const methods = (file: string) => {
      const src = new UncachedFileSource(path.join(ROOT, 'npz', file));
      try {
        return new Set(readZipDirectory(src).map((e) => e.method));
      } finally {
        src.close();
      }
    };
    expect(methods('stored.npz')).toEqual(new Set([0]));
    expect(methods('deflated.npz')).toEqual(new Set([8]));
  });

  it("our .npz holds each little-endian array as the .npy bytes numpy's holds, and reads back", () => {
    const numpyFile = path.join(ROOT, 'npz', 'stored.npz');
    const arrays = readNpz(numpyFile);
    const ours = path.join(dir, 'ours.npz');
    writeNpz(ours, arrays);
    expect(readNpz(ours)).toEqual(arrays);
    const entries = (file: string) => {
      const src = new UncachedFileSource(file);
      try {
        return new Map(readZipDirectory(src).map((e) => [e.name, hex(readZipEntry(src, e, 1 << 20))]));
      } finally {
        src.close();
      }
    };
    const [theirs, mine] = [entries(numpyFile), entries(ours)];
    const bigEndian = Object.entries(manifest.npz[0].arrays).filter(([name]) => name === 'ids').map(([name]) => `${name}.npy`);
    expect(bigEndian).toHaveLength(1);
    for (const [name, bytes] of theirs) if (!bigEndian.includes(name)) expect([name, mine.get(name)]).toEqual([name, bytes]);
  });
});

/** Random array of a random dtype: elements are random bytes (bool 0/1), so NaN payloads are covered too. */
function randomArray(r: Rng): NpyArray {
  const dtype = r.pick(NPY_DTYPES);
  const rank = r.int(0, 5);
  const shape = Array.from({ length: rank }, () => (r.int(0, 9) === 0 ? 0 : r.int(1, 5)));
  const n = numel(shape) * dtypeInfo(dtype).size;
  const data = new Uint8Array(n);
  for (let i = 0; i < n; i++) data[i] = dtype === 'bool' ? r.int(0, 1) : r.int(0, 255);
  return { dtype, shape, data };
}

/** The same array as numpy writes it big-endian: '>' in the header, each element's bytes reversed. */
function bigEndianFile(a: NpyArray, version?: NpyVersion): Uint8Array {
  const file = npyBytes(a, { version });
  const header = npyHeader(a.dtype, a.shape, { version });
  const text = Buffer.from(file.subarray(0, header.length)).toString('latin1').replace("'descr': '<", "'descr': '>");
  const out = Buffer.concat([Buffer.from(text, 'latin1'), Buffer.from(file.subarray(header.length))]);
  swapBytes(out.subarray(header.length), dtypeInfo(a.dtype).size);
  return out;
}

describe('round trips (property, recorded seeds)', () => {
  it('write then read gives the same dtype, shape and bytes, for every header version and byte order', () => {
    forSeeds(SEEDS, (r) => {
      const a = randomArray(r);
      const version = r.pick([undefined, 1, 2, 3] as const);
      const file = npyBytes(a, { version });
      expect((file.length - a.data.length) % 64).toBe(0);
      expect(readNpy(new BufferSource('a.npy', file))).toEqual(a);
      const big = bigEndianFile(a, version);
      expect(readNpy(new BufferSource('big.npy', big))).toEqual(a);
    });
  });

  it('.npz archives of random arrays, names with folders, read back whole', () => {
    forSeeds(SEEDS.slice(0, 12), (r) => {
      const n = r.int(1, 6);
      const arrays = new Map<string, NpyArray>();
      for (let i = 0; i < n; i++) arrays.set(r.pick(['', 'sample0/', `sample${i}/`]) + `x${i}`, randomArray(r));
      const file = path.join(dir, `r${r.seed}.npz`);
      writeNpz(file, arrays);
      expect(readNpz(file)).toEqual(arrays);
    });
  });

  it('every prefix of a file is refused as truncated, never read short', () => {
    forSeeds(SEEDS.slice(0, 6), (r) => {
      const a = { ...randomArray(r), shape: [2, 3], dtype: 'float32' as const, data: new Uint8Array(24) };
      const file = npyBytes(a);
      for (let len = 0; len < file.length; len++) {
        const e = thrown(() => readNpy(new BufferSource('cut.npy', file.subarray(0, len))));
        expect(e).toBeInstanceOf(DecodeError);
      }
    });
  });
});

describe('damaged and hostile headers say what the file is not', () => {
  const base = npyBytes({ dtype: 'float32', shape: [2, 3], data: new Uint8Array(24) });
  const headerLength = 128 - 10;
  /** A v1 file with this header text (padded to the same length) and `data`. */
  const withHeader = (text: string, data: Uint8Array = new Uint8Array(24)): Uint8Array => {
    const h = Buffer.alloc(headerLength, 0x20);
    h.write(text, 'latin1');
    h[headerLength - 1] = 0x0a;
    return Buffer.concat([Buffer.from(base.subarray(0, 10)), h, data]);
  };
  const reason = (bytes: Uint8Array): string => {
    const e = thrown(() => readNpy(new BufferSource('x.npy', bytes)));
    expect(e).toBeInstanceOf(DecodeError);
    return e.message;
  };

  it('reads the well-formed base', () => {
    expect(readNpy(new BufferSource('x.npy', withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"))).shape).toEqual([2, 3]);
    expect(readNpy(new BufferSource('x.npy', withHeader('{"shape": (2, 3), "fortran_order": False, "descr": "<f4"}'))).shape).toEqual([2, 3]);
  });

  it.each([
    ['no magic', Buffer.concat([Buffer.from('NOTNUMPY'), base.subarray(8)]), /no \\x93NUMPY magic/],
    ['version 4.0', Buffer.concat([base.subarray(0, 6), Buffer.from([4, 0]), base.subarray(8)]), /version 4\.0/],
    ['a header past the file', Buffer.concat([base.subarray(0, 8), Buffer.from([0xff, 0x7f]), base.subarray(10)]), /runs past the end/],
    ['an unknown key', withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}"), /unknown key 'x'/],
    ['a key twice', withHeader("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}"), /appears twice/],
    ['no shape', withHeader("{'descr': '<f4', 'fortran_order': False}"), /no 'shape'/],
    ['a negative dimension', withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3)}"), /not a dimension/],
    ['a float dimension', withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2.0, 3)}"), /whole numbers/],
    ['a list shape', withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3]}"), /not a tuple/],
    ['fortran_order 0', withHeader("{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3)}"), /not True or False/],
    ['a descr that is no dtype', withHeader("{'descr': 'float', 'fortran_order': False, 'shape': (2, 3)}"), /not a numpy dtype/],
    ['no byte order on f4', withHeader("{'descr': '|f4', 'fortran_order': False, 'shape': (2, 3)}"), /no byte order/],
    ['a call', withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': __import__('os')}"), /unexpected '_'/],
    ['text after the dict', withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)} x"), /after the header's dict/],
    ['not a dict', withHeader("('<f4', False, (2, 3))"), /not a dict literal/],
    ['deep nesting', withHeader(`{'descr': '<f4', 'fortran_order': False, 'shape': ${'('.repeat(20)}${')'.repeat(20)}}`), /nested too deeply/],
    ['an escape in a string', withHeader("{'descr': '<f\\x34', 'fortran_order': False, 'shape': (2, 3)}"), /escapes/],
    ['no newline at the end', Buffer.concat([base.subarray(0, 127), Buffer.from(' '), base.subarray(128)]), /newline/],
    ['too few bytes of data', withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", new Uint8Array(20)), /needs 24 bytes of data but the file has 20/],
    ['too many bytes of data', withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", new Uint8Array(48)), /more than one array/],
    ['a bool that is 2', withHeader("{'descr': '|b1', 'fortran_order': False, 'shape': (2, 3)}", new Uint8Array([0, 1, 2, 0, 0, 0])), /bool element 2 is 2/],
    ['a shape past 2^53 elements', withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}"), /too large/],
  ])('%s', (_what, bytes, message) => {
    expect(reason(bytes)).toMatch(message);
  });

  it('a file that is not an .npy names itself and the byte', () => {
    const file = path.join(dir, 'not.npy');
    fs.writeFileSync(file, 'PK\x03\x04 this is a zip');
    const e = thrown(() => readNpyFile(file));
    expect(e).toBeInstanceOf(FormatError);
    expect(e.message).toMatch(/not\.npy is not a \.npy array \(no \\x93NUMPY magic at byte 0\)/);
  });
});

describe('.npz refusals', () => {
  const arrays = new Map<string, NpyArray>([['x', { dtype: 'float32', shape: [64], data: new Uint8Array(256) }]]);

  it('an entry larger than the limit is refused before it is read', () => {
    const file = path.join(dir, 'big.npz');
    writeNpz(file, arrays);
    expect(thrown(() => readNpz(file, { maxEntryBytes: 100 })).message).toMatch(/x\.npy is 384 bytes, more than the 100 allowed/);
  });

  it('an entry that is not .npy, and a file that is not a zip', () => {
    const file = path.join(dir, 'other.npz');
    writeNpz(file, arrays);
    const b = fs.readFileSync(file);
    // rename the entry in both headers: x.npy -> x.txt
    fs.writeFileSync(file, Buffer.from(b.toString('latin1').split('x.npy').join('x.txt'), 'latin1'));
    expect(thrown(() => readNpz(file)).message).toMatch(/is not an \.npz archive \(entry x\.txt is not a \.npy array/);
    fs.writeFileSync(file, 'not a zip at all, just text that is long enough');
    expect(thrown(() => readNpz(file)).message).toMatch(/other\.npz is not an \.npz archive \(no zip end-of-central-directory record/);
  });

  it('a damaged array inside names the archive and the array', () => {
    const file = path.join(dir, 'damaged.npz');
    writeNpz(file, arrays);
    const b = fs.readFileSync(file);
    const at = b.indexOf("'shape'");
    b.write("'shapf'", at, 'latin1');
    fs.writeFileSync(file, b);
    const e = thrown(() => readNpz(file));
    // the CRC catches the change first
    expect(e.message).toMatch(/damaged\.npz is not an \.npz archive \(x\.npy fails its CRC check/);
  });

  it('a deflated entry claiming more than deflate can expand to is refused before anything is allocated', () => {
    const file = path.join(dir, 'claims.npz');
    const b = Buffer.from(fs.readFileSync(path.join(ROOT, 'npz', 'deflated.npz')));
    const cd = b.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    const compressed = b.readUInt32LE(cd + 20);
    const claim = compressed * 2000;
    if (b.readUInt32LE(cd + 24) === 0xffffffff) b.writeBigUInt64LE(BigInt(claim), cd + 46 + b.readUInt16LE(cd + 28) + 4);
    else b.writeUInt32LE(claim, cd + 24);
    fs.writeFileSync(file, b);
    expect(thrown(() => readNpz(file)).message).toMatch(new RegExp(`claims ${claim} bytes from ${compressed} deflated bytes, more than deflate can expand to`));
  });

  it('a deflated entry that inflates past its declared size is stopped there', () => {
    // numpy's deflated archive with one declared size cut: inflating must stop at the declared size
    const file = path.join(dir, 'bomb.npz');
    const b = Buffer.from(fs.readFileSync(path.join(ROOT, 'npz', 'deflated.npz')));
    const src = new UncachedFileSource(path.join(ROOT, 'npz', 'deflated.npz'));
    const entries = readZipDirectory(src);
    src.close();
    const e = entries[0];
    const smaller = e.size - 16;
    // the central directory entry's uncompressed size (offset 24 in its record); numpy writes zip64 fields for it
    const cd = b.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    expect(cd).toBeGreaterThan(0);
    if (b.readUInt32LE(cd + 24) === 0xffffffff) {
      const extra = cd + 46 + b.readUInt16LE(cd + 28);
      expect(b.readUInt16LE(extra)).toBe(1);
      b.writeBigUInt64LE(BigInt(smaller), extra + 4);
    } else b.writeUInt32LE(smaller, cd + 24);
    fs.writeFileSync(file, b);
    expect(thrown(() => readNpz(file)).message).toMatch(/does not inflate|inflates to/);
  });
});
