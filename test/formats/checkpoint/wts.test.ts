// .wts (TensorRT-RepVGG / tensorrtx): exact text, float conversion, what is left out, and round trips.
import * as fs from 'fs';
import * as path from 'path';
import { FormatError, UserError } from '../../../src/errors';
import { readWts, writeWts } from '../../../src/formats/wts';
import { Tensor, tensorFromArray, toFloat32 } from '../../../src/tensor';
import { seededRandom } from '../../../src/verify/random';
import { tempDir } from './helpers';

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const raw = (dtype: Tensor['dtype'], shape: number[], bytes: number[]): Tensor => ({ dtype, shape, data: { kind: 'memory', bytes: Uint8Array.from(bytes) } });

test('writes the count, then name, element count and big-endian float32 hex per tensor', () => {
  const f = path.join(dir, 'exact.wts');
  writeWts(f, [
    ['stage0.rbr_reparam.weight', tensorFromArray([3, 1, 1, 1], Float32Array.from([1, -2, 0.5]))],
    ['stage0.bn.num_batches_tracked', raw('int64', [], [5, 0, 0, 0, 0, 0, 0, 0])],
    ['half', raw('float16', [2], [0x00, 0x3c, 0x00, 0xc0])], // 1.0, -2.0
    ['brain', raw('bfloat16', [1], [0x80, 0x3f])], // 1.0
    ['double', raw('float64', [1], [...Buffer.from(Float64Array.from([0.1]).buffer)])],
    ['empty', tensorFromArray([0], new Float32Array(0))],
    ['mask', raw('bool', [1], [1])],
  ]);
  expect(fs.readFileSync(f, 'latin1')).toBe(
    '5\n' +
      'stage0.rbr_reparam.weight 3 3f800000 c0000000 3f000000\n' +
      'half 2 3f800000 c0000000\n' +
      'brain 1 3f800000\n' +
      'double 1 3dcccccd\n' +
      'empty 0\n',
  );
});

test.each([1, 2, 3])('seed %i: float32 values round-trip bit for bit', (seed) => {
  const rng = seededRandom(500 + seed);
  const entries: Array<[string, Tensor]> = [];
  for (let i = 0; i < 6; i++) {
    const n = rng.int(0, 300);
    const v = Float32Array.from({ length: n }, () => rng.normal() * 10 ** rng.int(-8, 8));
    if (n > 2) v[0] = -0, v[1] = Infinity;
    entries.push([`layer${i}.weight`, tensorFromArray([n], v)]);
  }
  const f = path.join(dir, `rt-${seed}.wts`);
  writeWts(f, entries);
  const back = readWts(f);
  expect([...back.tensors.keys()]).toEqual(entries.map(([k]) => k));
  for (const [k, t] of entries) {
    expect(Buffer.from(toFloat32(back.tensors.get(k)!).buffer)).toEqual(Buffer.from(toFloat32(t).buffer));
  }
});

test('names the format cannot hold are refused before writing', () => {
  const f = path.join(dir, 'space.wts');
  expect(() => writeWts(f, [['a b', tensorFromArray([1], Float32Array.from([1]))]])).toThrow(UserError);
  expect(fs.existsSync(f)).toBe(false);
});

test.each([
  ['no count', 'x\n', /line 1: first line is not an entry count/],
  ['count mismatch', '2\na 1 3f800000\n', /count says 2 entries but the file has 1/],
  ['value count', '1\na 2 3f800000\n', /line 2: 'a' says 2 values but has 1/],
  ['bad hex', '1\na 1 3F800000\n', /not 8 lowercase hex digits/],
  ['duplicate', '2\na 1 3f800000\na 1 3f800000\n', /line 3: 'a' appears twice/],
])('readWts refuses %s', (_name, text, re) => {
  const f = path.join(dir, 'bad.wts');
  fs.writeFileSync(f, text);
  expect(() => readWts(f)).toThrow(FormatError);
  expect(() => readWts(f)).toThrow(re);
});
