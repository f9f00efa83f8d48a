// The SIMD row scaling gives the bits of the scalar loop (Math.fround(x * s + 0)) for every kind of
// float32, at any offset and length, and flags exactly the rows with a value that is not finite.
import { scaleRow, simdSharedBuffer } from '../../src/math/simd-scale';
import { forSeeds, Rng, SEEDS } from '../helpers/random';

/** float32 values of every kind: normal over a wide exponent range, subnormal, ±0, near the top of the range. */
function values(r: Rng, n: number): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const kind = r.int(0, 9);
    if (kind === 0) v[i] = r.float() < 0.5 ? -0 : 0;
    else if (kind === 1) v[i] = r.float() * 1e-40;
    else if (kind === 2) v[i] = r.float(-3.4e38, 3.4e38);
    else v[i] = r.float() * 2 ** r.int(-60, 60);
  }
  return v;
}

const scales = (r: Rng) => [r.float(-3, 3), -1, 1, r.float() * 2 ** r.int(-40, 40), 0];

test('SIMD scaling has the bits of the scalar loop, and the finite flag', () => {
  const shared = simdSharedBuffer(1 << 16);
  forSeeds(SEEDS, (r) => {
    for (const s of scales(r)) {
      const at = r.int(0, 7);
      const count = r.int(0, 203);
      const input = values(r, count + 8);
      if (r.float() < 0.2) input[at + r.int(0, Math.max(0, count - 1))] = r.pick([NaN, Infinity, -Infinity]);
      const simd = new Float32Array(shared, 4 * r.int(0, 3), count + 8);
      simd.set(input);
      const plain = input.slice();
      const flagSimd = scaleRow(simd, at, count, s);
      const flagPlain = scaleRow(plain, at, count, s);
      let finite = true;
      // Object.is tells -0 from +0 (and takes any NaN for NaN: NaN payloads are never written out).
      for (let i = 0; i < count + 8; i++) expect(Object.is(simd[i], plain[i])).toBe(true);
      for (let i = at; i < at + count; i++) {
        expect(Object.is(plain[i], Math.fround(input[i] * s + 0))).toBe(true);
        if (!Number.isFinite(plain[i])) finite = false;
      }
      expect(flagSimd === 0).toBe(finite);
      expect(flagPlain === 0).toBe(finite);
    }
  });
});
