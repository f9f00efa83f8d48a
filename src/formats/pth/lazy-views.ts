// Byte sources that present a stored tensor as little-endian C-contiguous bytes without copying it up
// front: a strided view is gathered and big-endian elements are swapped only when someone reads them.
import { ByteRange, ByteSource } from '../bytes';

/** Largest stretch of a storage read at once to gather a strided view; sparser views read run by run. */
const MAX_SPAN = 64 << 20;

/** The elements of a strided view over a storage, in C order, gathered on each read. */
export class StridedViewSource implements ByteSource {
  readonly length: number;
  private readonly count: number;

  constructor(
    readonly name: string,
    private readonly storage: ByteRange,
    private readonly elemSize: number,
    private readonly shape: readonly number[],
    private readonly strides: readonly number[],
    private readonly storageOffset: number,
    private readonly maxSpan = MAX_SPAN,
  ) {
    this.count = shape.reduce((a, b) => a * b, 1);
    this.length = this.count * elemSize;
  }

  read(offset: number, length: number): Uint8Array {
    if (!(offset >= 0 && length >= 0 && offset + length <= this.length)) {
      throw new RangeError(`read of ${length} bytes at ${offset} is past the end of ${this.name} (${this.length} bytes)`);
    }
    if (length === 0) return new Uint8Array(0);
    const s = this.elemSize;
    const first = Math.floor(offset / s);
    const last = Math.ceil((offset + length) / s); // exclusive
    const positions = this.positions(first, last);
    const out = new Uint8Array((last - first) * s);
    let lo = Infinity;
    let hi = -Infinity;
    for (const p of positions) {
      if (p < lo) lo = p;
      if (p > hi) hi = p;
    }
    if ((hi - lo + 1) * s <= this.maxSpan) {
      // one read of the covering span, then pick the elements out of it
      const span = this.storage.source.read(this.storage.offset + lo * s, (hi - lo + 1) * s);
      for (let i = 0; i < positions.length; i++) {
        const src = (positions[i] - lo) * s;
        out.set(span.subarray(src, src + s), i * s);
      }
    } else {
      // a sparse view of a large storage: read each run of consecutive elements on its own
      for (let i = 0; i < positions.length; ) {
        let j = i + 1;
        while (j < positions.length && positions[j] === positions[j - 1] + 1) j++;
        out.set(this.storage.source.read(this.storage.offset + positions[i] * s, (j - i) * s), i * s);
        i = j;
      }
    }
    const skip = offset - first * s;
    return out.subarray(skip, skip + length);
  }

  /** Storage element index of each C-order element in [first, last). */
  private positions(first: number, last: number): Float64Array {
    const nd = this.shape.length;
    const idx = new Array<number>(nd).fill(0);
    let rem = first;
    for (let d = nd - 1; d >= 0; d--) {
      idx[d] = rem % this.shape[d];
      rem = Math.floor(rem / this.shape[d]);
    }
    let pos = this.storageOffset;
    for (let d = 0; d < nd; d++) pos += idx[d] * this.strides[d];
    const out = new Float64Array(last - first);
    for (let i = 0; i < out.length; i++) {
      out[i] = pos;
      // odometer step in C order
      for (let d = nd - 1; d >= 0; d--) {
        idx[d]++;
        pos += this.strides[d];
        if (idx[d] < this.shape[d]) break;
        pos -= idx[d] * this.strides[d];
        idx[d] = 0;
      }
    }
    return out;
  }

  close(): void {}
}

/** Big-endian elements read as little-endian ones. */
export class ByteSwapSource implements ByteSource {
  readonly length: number;

  constructor(readonly name: string, private readonly inner: ByteRange, private readonly elemSize: number) {
    this.length = inner.length;
  }

  read(offset: number, length: number): Uint8Array {
    if (!(offset >= 0 && length >= 0 && offset + length <= this.length)) {
      throw new RangeError(`read of ${length} bytes at ${offset} is past the end of ${this.name} (${this.length} bytes)`);
    }
    const s = this.elemSize;
    const first = Math.floor(offset / s) * s;
    const end = Math.ceil((offset + length) / s) * s;
    const out = this.inner.source.read(this.inner.offset + first, end - first).slice();
    for (let e = 0; e < out.length; e += s) out.subarray(e, e + s).reverse();
    return out.subarray(offset - first, offset - first + length);
  }

  close(): void {}
}
