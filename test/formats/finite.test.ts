// firstNonFinite: the first NaN or ±Infinity of a tensor kept as a file range (read in 1 MiB chunks) or
// in memory, for every floating-point dtype, wherever it sits, and none in finite data (seeds recorded).
import * as fs from 'fs';
import * as path from 'path';
import { DType } from '../../src/dtype';
import { FileSource } from '../../src/formats/bytes';
import { firstNonFinite } from '../../src/formats/finite';
import { Tensor, floatToHalf } from '../../src/tensor';
import { tempDir } from '../helpers/fixtures';
import { rng } from '../helpers/random';

const SIZE: Record<string, number> = { float32: 4, float64: 8, float16: 2, bfloat16: 2 };

/** Little-endian bytes of `values` in `dtype`. */
function encode(values: readonly number[], dtype: DType): Uint8Array {
  const b = new Uint8Array(values.length * SIZE[dtype]);
  const dv = new DataView(b.buffer);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  values.forEach((v, i) => {
    if (dtype === 'float32') dv.setFloat32(4 * i, v, true);
    else if (dtype === 'float64') dv.setFloat64(8 * i, v, true);
    else if (dtype === 'float16') dv.setUint16(2 * i, floatToHalf(v), true);
    else {
      f[0] = v;
      dv.setUint16(2 * i, u[0] >>> 16, true);
    }
  });
  return b;
}

test.each(['float32', 'float64', 'float16', 'bfloat16'] as const)('%s: the first non-finite value is found in ranges and in memory (seeds 1-6)', (dtype) => {
  const dir = tempDir();
  for (let seed = 1; seed <= 6; seed++) {
    const r = rng(seed);
    // Past one 1 MiB chunk, so values in the second chunk are numbered from the tensor's start.
    const n = Math.ceil((1.5 * (1 << 20)) / SIZE[dtype]) + r.int(0, 999);
    const values = Array.from({ length: n }, () => (r.float() - 0.5) * 100);
    // Two anywhere, or one past the first chunk; none for the last seed.
    const secondChunk = (1 << 20) / SIZE[dtype];
    const planted = seed === 6 ? [] : seed % 2 ? [r.int(0, n - 1), r.int(0, n - 1)].sort((a, b) => a - b) : [r.int(secondChunk, n - 1)];
    const bad = [NaN, Infinity, -Infinity][seed % 3];
    planted.forEach((i) => (values[i] = bad));
    const bytes = encode(values, dtype);
    // An odd offset in the file: ranges need not be aligned.
    const file = path.join(dir, `${dtype}-${seed}.bin`);
    fs.writeFileSync(file, Buffer.concat([Buffer.from([1, 2, 3]), bytes]));
    const source = new FileSource(file);
    const want = planted.length ? { index: planted[0], value: bad } : undefined;
    const inRange: Tensor = { dtype, shape: [n], data: { kind: 'range', range: { source, offset: 3, length: bytes.length } } };
    const inMemory: Tensor = { dtype, shape: [n], data: { kind: 'memory', bytes: Buffer.concat([Buffer.from([0]), bytes]).subarray(1) } };
    expect({ seed, found: firstNonFinite(inRange) }).toEqual({ seed, found: want });
    expect({ seed, found: firstNonFinite(inMemory) }).toEqual({ seed, found: want });
    source.close();
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test('integer tensors and tensors computed later are not scanned', () => {
  const ints: Tensor = { dtype: 'int64', shape: [1], data: { kind: 'memory', bytes: new Uint8Array(8).fill(0xff) } };
  expect(firstNonFinite(ints)).toBeUndefined();
  let computed = 0;
  const lazy: Tensor = { dtype: 'float32', shape: [1], data: { kind: 'lazy', compute: () => (computed++, encode([NaN], 'float32')) } };
  expect(firstNonFinite(lazy)).toBeUndefined();
  expect(computed).toBe(0);
});
