// safetensors: seeded round trips, the exact bytes of a small file, strict refusals, and lazy reading.
import * as fs from 'fs';
import * as path from 'path';
import { FormatError, UserError } from '../../../src/errors';
import { MAX_METADATA_KEYS, MAX_TENSORS, readSafetensors, writeSafetensors } from '../../../src/formats/safetensors';
import { tensorBytes, tensorFromArray } from '../../../src/tensor';
import { seededRandom } from '../../../src/verify/random';
import { bytesRead, expectSameTensors, hasReadCounter, randomStateDict, tempDir } from './helpers';

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A file from a raw header string and buffer. */
function rawFile(name: string, header: string | Uint8Array, buffer: Uint8Array = new Uint8Array(0), lengthField?: bigint): string {
  const h = typeof header === 'string' ? Buffer.from(header, 'utf8') : Buffer.from(header);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lengthField ?? BigInt(h.length));
  const file = path.join(dir, name);
  fs.writeFileSync(file, Buffer.concat([len, h, buffer]));
  return file;
}

function refusal(file: string): FormatError {
  try {
    readSafetensors(file);
  } catch (e) {
    expect(e).toBeInstanceOf(FormatError);
    return e as FormatError;
  }
  throw new Error(`${file} was accepted`);
}

describe('safetensors round trip', () => {
  test.each([1, 2, 3, 4, 5, 6, 7, 8])('seed %i: random names, shapes, dtypes and bytes survive write then read', (seed) => {
    const rng = seededRandom(seed);
    const sd = randomStateDict(rng, rng.int(0, 12));
    const meta = seed % 2 ? { format: 'pt', note: `seed ${seed} ✓`, __proto__: 'plain key' } : undefined;
    const file = path.join(dir, `rt-${seed}.safetensors`);
    writeSafetensors(file, sd, meta);
    const back = readSafetensors(file);
    expectSameTensors(back.tensors, sd);
    expect(back.metadata).toEqual(meta ? Object.fromEntries(Object.entries(meta)) : {});
    // header length is a multiple of 8 so the buffer starts aligned
    expect(fs.readFileSync(file).readBigUInt64LE(0) % 8n).toBe(0n);
  });

  test('writes exactly the documented layout', () => {
    const file = path.join(dir, 'exact.safetensors');
    writeSafetensors(file, [['attn.0', tensorFromArray([1, 2, 3], Float32Array.from([0, 1, 2, 3, 4, 5]))]]);
    const header = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
    const padded = header + ' '.repeat((8 - (header.length % 8)) % 8);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(padded.length));
    expect(fs.readFileSync(file)).toEqual(Buffer.concat([len, Buffer.from(padded), Buffer.from(Float32Array.from([0, 1, 2, 3, 4, 5]).buffer)]));
  });

  test('keeps integer-like names in file order and writes an empty file as {}', () => {
    const file = path.join(dir, 'order.safetensors');
    const t = tensorFromArray([1], Float32Array.from([7]));
    writeSafetensors(file, [['b', t], ['10', t], ['2', t], ['a', t]]);
    expect([...readSafetensors(file).tensors.keys()]).toEqual(['b', '10', '2', 'a']);
    const empty = path.join(dir, 'empty.safetensors');
    writeSafetensors(empty, []);
    expect(fs.readFileSync(empty)).toEqual(Buffer.concat([Buffer.from([8, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{}      ')]));
    expect(readSafetensors(empty).tensors.size).toBe(0);
  });

  test('accepts header entries in any order as long as the offsets tile the buffer', () => {
    const file = rawFile('shuffled.safetensors', '{"late":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"early":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', Buffer.from(Float32Array.from([1, 2]).buffer));
    const sd = readSafetensors(file);
    expect([...sd.tensors.keys()]).toEqual(['late', 'early']);
    expect(Array.from(new Float32Array(tensorBytes(sd.tensors.get('late')!).slice().buffer))).toEqual([2]);
  });

  test('refuses to write a tensor named __metadata__ or a name twice', () => {
    const t = tensorFromArray([1], Float32Array.from([1]));
    expect(() => writeSafetensors(path.join(dir, 'x.safetensors'), [['__metadata__', t]])).toThrow(UserError);
    expect(() => writeSafetensors(path.join(dir, 'x.safetensors'), [['a', t], ['a', t]])).toThrow(/appears twice/);
    expect(fs.existsSync(path.join(dir, 'x.safetensors'))).toBe(false);
  });
});

describe('safetensors refusals name what the file is not and where', () => {
  const f32x2 = Buffer.from(Float32Array.from([1, 2]).buffer);
  const entry = (name: string, off: string, shape = '[2]', dtype = 'F32') => `"${name}":{"dtype":"${dtype}","shape":${shape},"data_offsets":${off}}`;

  test.each([
    ['short', () => { fs.writeFileSync(path.join(dir, 'short.safetensors'), Buffer.from([1, 2, 3])); return path.join(dir, 'short.safetensors'); }, /too short.* at byte 0/],
    ['huge header', () => rawFile('huge.safetensors', '{}', undefined, 100_000_001n), /over the 100000000-byte limit at byte 0/],
    ['header past end', () => rawFile('past.safetensors', '{}', undefined, 4096n), /runs past the end of the 10-byte file/],
    ['not utf-8', () => rawFile('utf8.safetensors', Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])), /not valid UTF-8 at byte 10/],
    ['overlong utf-8', () => rawFile('overlong.safetensors', Buffer.from([0x7b, 0x22, 0xc0, 0xaf, 0x22, 0x3a, 0x31, 0x7d])), /not valid UTF-8 at byte 10/],
    ['not json', () => rawFile('json.safetensors', '{"a":}'), /not valid JSON.* at byte 13/],
    ['not an object', () => rawFile('array.safetensors', '[1]'), /does not start with '\{'/],
    ['leading space', () => rawFile('lead.safetensors', ' {}'), /does not start with '\{'/],
    ['trailing garbage', () => rawFile('trail.safetensors', '{}  x'), /not space padding/],
    ['duplicate key', () => rawFile('dup.safetensors', `{${entry('a', '[0,8]')},${entry('a', '[0,8]')}}`, f32x2), /duplicate key 'a' at byte 62/],
    ['duplicate field', () => rawFile('dupfield.safetensors', '{"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}', f32x2), /duplicate key 'dtype'/],
    ['entry not an object', () => rawFile('entry.safetensors', '{"a":[1,2]}'), /entry 'a' is not an object at byte 9/],
    ['missing field', () => rawFile('missing.safetensors', '{"a":{"dtype":"F32","shape":[2]}}', f32x2), /entry 'a' has no 'data_offsets'/],
    ['unknown field', () => rawFile('unknown.safetensors', '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}', f32x2), /unknown field 'x'/],
    ['unknown dtype', () => rawFile('dtype.safetensors', `{${entry('a', '[0,8]', '[2]', 'F31')}}`, f32x2), /unknown dtype 'F31'/],
    ['negative dim', () => rawFile('neg.safetensors', `{${entry('a', '[0,8]', '[-2]')}}`, f32x2), /non-negative integer/],
    ['fractional dim', () => rawFile('frac.safetensors', `{${entry('a', '[0,8]', '[2.0]')}}`, f32x2), /non-negative integer/],
    ['offset past 2^53', () => rawFile('big.safetensors', `{${entry('a', '[0,9007199254740993]')}}`, f32x2), /past 2\^53/],
    ['numel past 2^53', () => rawFile('numel.safetensors', `{${entry('a', '[0,8]', '[4294967296,4294967296]')}}`, f32x2), /more than 2\^53/],
    ['size mismatch', () => rawFile('size.safetensors', `{${entry('a', '[0,4]')}}`, f32x2.subarray(0, 4)), /hold 4 bytes but shape \[2\] of F32 needs 8/],
    ['end before begin', () => rawFile('order.safetensors', `{${entry('a', '[8,0]')}}`, f32x2), /end before they begin/],
    ['gap', () => rawFile('gap.safetensors', `{${entry('a', '[8,16]')}}`, Buffer.concat([f32x2, f32x2])), /leaves a gap/],
    ['overlap', () => rawFile('overlap.safetensors', `{${entry('a', '[0,8]')},${entry('b', '[4,12]')}}`, Buffer.concat([f32x2, f32x2.subarray(0, 4)])), /tensor 'b' starts at buffer offset 4, which overlaps/],
    ['past end of file', () => rawFile('past-end.safetensors', `{${entry('a', '[0,8]')}}`, f32x2.subarray(0, 4)), /past the end of the file/],
    ['trailing bytes', () => rawFile('tail.safetensors', `{${entry('a', '[0,8]')}}`, Buffer.concat([f32x2, Buffer.from([0])])), /tensors cover 8 of the 9 buffer bytes/],
    ['metadata not strings', () => rawFile('meta.safetensors', '{"__metadata__":{"a":1}}'), /__metadata__ value for 'a' is not a string/],
    ['metadata not an object', () => rawFile('meta2.safetensors', '{"__metadata__":"x"}'), /__metadata__ is not an object/],
  ])('%s', (_name, make, message) => {
    const file = make();
    const e = refusal(file);
    expect(e.message.startsWith(`${file} is not a safetensors file (`)).toBe(true);
    expect(e.message).toMatch(message);
    expect(e.message).toMatch(/at byte \d+\)$/);
  });

  // What the header builds stays in proportion to the tensors it declares: entries are checked as they
  // are parsed, and counts are capped.
  test.each([
    // the JSON after it is broken: the entry was checked before the parser got there
    ['an empty entry is refused before the next is parsed', () => `{${Array.from({ length: 200_000 }, (_, i) => `"k${i}":{}`).join(',')} !!!`, /entry 'k0' has no 'dtype' at byte 9\)/],
    ['more tensors than MAX_TENSORS (each of zero bytes)', () => `{${Array.from({ length: MAX_TENSORS + 1 }, (_, i) => entry(`k${i}`, '[0,0]', '[0]')).join(',')}}`, new RegExp(`header declares more than ${MAX_TENSORS} tensors at byte \\d+\\)`)],
    ['more metadata keys than MAX_METADATA_KEYS', () => `{"__metadata__":{${Array.from({ length: MAX_METADATA_KEYS + 1 }, (_, i) => `"m${i}":""`).join(',')}}}`, new RegExp(`__metadata__ has ${MAX_METADATA_KEYS + 1} keys, more than ${MAX_METADATA_KEYS}`)],
    ['an entry of a million empty arrays', () => `{"a":{"dtype":"F32","shape":[${'[],'.repeat(1_000_000)}0],"data_offsets":[0,0]}}`, /a header entry holds more than 262144 JSON values/],
  ])('%s', (_name, header, message) => {
    const file = rawFile('many.safetensors', header());
    expect(refusal(file).message).toMatch(message);
  });

  test('a dtype the spec has but the tool does not is unsupported, not malformed', () => {
    const file = rawFile('u16.safetensors', '{"a":{"dtype":"U16","shape":[2],"data_offsets":[0,4]}}', Buffer.alloc(4));
    expect(() => readSafetensors(file)).toThrow(expect.objectContaining({ code: 'UNSUPPORTED', message: expect.stringMatching(/U16/) }));
  });
});

describe('safetensors reads lazily', () => {
  if (!hasReadCounter()) test.skip('needs /proc/self/io', () => undefined);
  else
  test('opening a 1 GiB file reads only its header; a tensor is read when asked', () => {
    // A sparse file: one small tensor and a 1 GiB one that occupies no disk.
    const header = Buffer.from('{"small":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"big":{"dtype":"U8","shape":[1073741824],"data_offsets":[8,1073741832]}}');
    const file = rawFile('sparse.safetensors', header);
    fs.truncateSync(file, 8 + header.length + 8 + 2 ** 30);
    const before = bytesRead();
    const sd = readSafetensors(file);
    expect(bytesRead() - before).toBeLessThanOrEqual(2 << 20);
    const big = sd.tensors.get('big')!;
    expect(big.data.kind).toBe('range');
    expect(Array.from(tensorBytes(sd.tensors.get('small')!))).toEqual(new Array(8).fill(0));
    expect(bytesRead() - before).toBeLessThanOrEqual(3 << 20);
  });
});
