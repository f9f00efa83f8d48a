// Merged weights as tensors whose bytes are computed when a writer reads them: a model's new weights
// never all sit in memory at once, and a block whose one full-size kernel is a float32 file range
// streams, a slice of output channels at a time, from the input file into the writer's buffer.
import { ByteRange, readRangeInto } from '../formats/bytes';
import { MergedKernel, RowMerge, allFinite } from '../math/kernel';
import { SlicePut, Tensor } from '../tensor';

/** How a merged kernel is made, for lazyKernelTensors. */
export interface KernelSource {
  /** The whole merge. */
  readonly compute: () => MergedKernel;
  /** The same merge a slice of output channels at a time, when the block allows it; writers stream it. */
  readonly rows?: RowSource;
  /** Called when a merged value is not finite: names the input to blame, or the overflow, by throwing. */
  readonly notFinite: () => never;
}

export interface RowSource {
  /** The full-size branch's weights: float32, little-endian, output channel by output channel. */
  readonly range: ByteRange;
  /** Reads everything else the merge needs (small beside `range`). */
  readonly prepare: () => RowMerge;
}

/** Bytes per slice when a merged kernel streams: small enough to stay in the CPU's cache. */
const SLICE_BYTES = 1 << 20;

/**
 * Weight and bias tensors whose bytes are computed on first read, from one shared computation that is
 * dropped once both have been read: a model's merged weights never all sit in memory at once. When the
 * block merges row by row, a writer streaming the weight holds one slice of it at a time.
 */
export function lazyKernelTensors(shape: readonly [number, number, number, number], source: KernelSource): { weight: Tensor; bias: Tensor } {
  const rows = source.rows;
  if (!rows) {
    const merged = sharedByPair(() => {
      const k = source.compute();
      if (!k.finite) source.notFinite();
      return k;
    });
    const take = (part: 'weight' | 'bias'): Uint8Array => {
      const a = merged(part)[part];
      return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    };
    return {
      weight: { dtype: 'float32', shape, data: { kind: 'lazy', compute: () => take('weight') } },
      bias: { dtype: 'float32', shape: [shape[0]], data: { kind: 'lazy', compute: () => take('bias') } },
    };
  }
  // The small inputs, read once for the streamed weight and the bias together.
  const prepared = sharedByPair(rows.prepare);
  const stream = (put: SlicePut): void => {
    const p = prepared('weight');
    const rowBytes = p.rowLength * 4;
    if (rows.range.length !== p.shape[0] * rowBytes) throw new Error(`a ${rows.range.length}-byte kernel streamed as ${p.shape[0]} rows of ${rowBytes}`);
    const perSlice = Math.max(1, Math.floor(SLICE_BYTES / rowBytes));
    for (let from = 0; from < p.shape[0]; from += perSlice) {
      const n = Math.min(perSlice, p.shape[0] - from);
      // The rows are read into the writer's buffer and merged there.
      put(n * rowBytes, (target) => {
        readRangeInto(rows.range, from * rowBytes, target);
        if (!p.mergeRows(from, new Float32Array(target.buffer, target.byteOffset, target.length / 4))) source.notFinite();
      });
    }
  };
  const bias = (): Uint8Array => {
    const b = prepared('bias').bias;
    if (!allFinite(b)) source.notFinite();
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  };
  // A whole read of the weight (FP16, a second writer) merges without caching: the bias is not read through `take` here.
  const whole = (): Uint8Array => {
    const k = source.compute();
    if (!k.finite) source.notFinite();
    return new Uint8Array(k.weight.buffer, k.weight.byteOffset, k.weight.byteLength);
  };
  return {
    weight: { dtype: 'float32', shape, data: { kind: 'lazy', compute: whole, stream } },
    bias: { dtype: 'float32', shape: [shape[0]], data: { kind: 'lazy', compute: bias } },
  };
}

/** A value made on first use and dropped once both the weight and the bias have taken it (then made again if asked). */
function sharedByPair<T>(make: () => T): (part: 'weight' | 'bias') => T {
  let value: T | undefined;
  const taken = { weight: false, bias: false };
  return (part) => {
    const v = (value ??= make());
    taken[part] = true;
    if (taken.weight && taken.bias) {
      value = undefined;
      taken.weight = taken.bias = false;
    }
    return v;
  };
}

/** A row source for a float32 weight tensor kept as a file range; undefined when it is not one. */
export function rowRange(t: Tensor): ByteRange | undefined {
  return t.dtype === 'float32' && t.data.kind === 'range' ? t.data.range : undefined;
}
