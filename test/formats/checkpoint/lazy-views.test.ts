// Strided and byte-swapped views gather exactly the elements a naive loop would, for any sub-range read.
import { BufferSource } from '../../../src/formats/bytes';
import { ByteSwapSource, StridedViewSource } from '../../../src/formats/pth/lazy-views';
import { seededRandom } from '../../../src/verify/random';

test.each([1, 2, 3, 4, 5, 6, 7, 8])('seed %i: strided views match a naive gather, through both read paths', (seed) => {
  const rng = seededRandom(900 + seed);
  const elem = [1, 2, 4, 8][rng.int(0, 3)];
  const rank = rng.int(1, 4);
  const shape = Array.from({ length: rank }, () => rng.int(1, 5));
  const strides = Array.from({ length: rank }, () => rng.int(0, 7));
  const offset = rng.int(0, 5);
  const last = offset + shape.reduce((a, d, i) => a + (d - 1) * strides[i], 0);
  const storage = Uint8Array.from({ length: (last + 1 + rng.int(0, 3)) * elem }, () => rng.int(0, 255));
  const src = new BufferSource('storage', storage);

  // naive C-order gather
  const count = shape.reduce((a, b) => a * b, 1);
  const expected = new Uint8Array(count * elem);
  for (let i = 0; i < count; i++) {
    let rem = i;
    let pos = offset;
    for (let d = rank - 1; d >= 0; d--) {
      pos += (rem % shape[d]) * strides[d];
      rem = Math.floor(rem / shape[d]);
    }
    expected.set(storage.subarray(pos * elem, pos * elem + elem), i * elem);
  }

  for (const maxSpan of [1 << 20, 1]) {
    const view = new StridedViewSource('view', { source: src, offset: 0, length: storage.length }, elem, shape, strides, offset, maxSpan);
    expect(Buffer.from(view.read(0, view.length))).toEqual(Buffer.from(expected));
    for (let k = 0; k < 5; k++) {
      const a = rng.int(0, view.length);
      const n = rng.int(0, view.length - a);
      expect(Buffer.from(view.read(a, n))).toEqual(Buffer.from(expected.subarray(a, a + n)));
    }
  }
});

test('byte-swapped sources swap whole elements for any sub-range', () => {
  const be = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  const swapped = new ByteSwapSource('s', { source: new BufferSource('b', be), offset: 0, length: 12 }, 4);
  expect(Array.from(swapped.read(0, 12))).toEqual([4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9]);
  expect(Array.from(swapped.read(3, 6))).toEqual([1, 8, 7, 6, 5, 12]);
  expect(() => swapped.read(10, 4)).toThrow(RangeError);
});
