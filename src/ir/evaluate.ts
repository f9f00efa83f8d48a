// Values a graph computes from constants alone, worked out in float64: exporters write parameters as
// small computations (DiverseBranchBlock's identity-based 1x1 kernel is `weight + id`, its BNAndPad
// fill is `beta − mean · gamma / √(var + eps)`) and the indices of in-place assignments as chains of
// Shape, Gather, Range, Expand, … over tensors whose shapes are fixed. Anything else, and anything
// larger than a few million elements, is not folded.
import { dtypeInfo, numel } from '../dtype';
import { Tensor, tensorBytes, tensorFromArray, toFloat32 } from '../tensor';
import { intAttr, intsAttr } from './attribute';
import { constantTensor } from './constants';
import { Node, Value } from './graph';
import { Dims } from './shapes';

export interface Folded {
  readonly dims: readonly number[];
  readonly data: Float64Array;
  /** Integer and boolean results are exact integers in `data`. */
  readonly isFloat: boolean;
}

const MAX_ELEMENTS = 1 << 22;

/** ONNX element types that are floating point. */
const FLOAT_TYPES = new Set([1, 10, 11, 16]);

export class ConstantFolder {
  private readonly memo = new Map<Value, Folded | null>();

  /** `shapeOf` gives the fixed shapes of the graph's values, for Shape nodes. */
  constructor(private readonly shapeOf: (v: Value) => Dims | undefined) {}

  /** The value's numbers when it depends on constants (and fixed shapes) only. */
  fold(v: Value | null | undefined): Folded | undefined {
    if (!v) return undefined;
    const known = this.memo.get(v);
    if (known !== undefined) return known ?? undefined;
    this.memo.set(v, null); // a cycle folds to nothing
    let out: Folded | undefined;
    try {
      out = this.compute(v);
    } catch (e) {
      if (!(e instanceof FoldError)) throw e;
      out = undefined;
    }
    this.memo.set(v, out ?? null);
    return out;
  }

  /** The value as a float32 tensor, when it folds to floats. */
  tensor(v: Value | null | undefined): Tensor | undefined {
    if (!v) return undefined;
    const t = constantTensor(v);
    if (t) return t;
    const f = this.fold(v);
    return f && f.isFloat ? tensorFromArray(f.dims, Float32Array.from(f.data)) : undefined;
  }

  /** The nodes that compute `v` from constants and shapes (a Shape node of a tensor computed from x is included, that tensor is not). */
  cone(v: Value | null | undefined, into: Set<Node> = new Set()): Set<Node> {
    const p = v?.producer;
    if (!p || into.has(p)) return into;
    into.add(p);
    if (p.opType !== 'Shape' || this.fold(p.inputs[0])) for (const i of p.inputs) this.cone(i, into);
    return into;
  }

  private compute(v: Value): Folded | undefined {
    const t = constantTensor(v);
    if (t) return fromTensor(t);
    const n = v.producer;
    if (!n || n.domain !== '' || n.outputs[0] !== v) return undefined;
    const arg = (i: number): Folded => {
      const f = this.fold(n.inputs[i]);
      if (!f) throw new FoldError();
      return f;
    };
    const opt = (i: number): Folded | undefined => (n.inputs[i] ? arg(i) : undefined);
    const ints = (f: Folded | undefined): number[] | undefined => (f ? Array.from(f.data) : undefined);
    switch (n.opType) {
      case 'Identity':
        return arg(0);
      case 'Cast': {
        const to = intAttr(n.attributes, 'to', 1);
        const a = arg(0);
        const float = FLOAT_TYPES.has(to);
        return { dims: a.dims, data: float ? a.data : a.data.map(Math.trunc), isFloat: float };
      }
      case 'Shape': {
        const dims = n.inputs[0] ? this.shapeOf(n.inputs[0]) ?? this.fold(n.inputs[0])?.dims : undefined;
        if (!dims) return undefined;
        const r = dims.length;
        const norm = (x: number) => Math.min(Math.max(x < 0 ? x + r : x, 0), r);
        const part = dims.slice(norm(intAttr(n.attributes, 'start', 0)), norm(intAttr(n.attributes, 'end', r)));
        return { dims: [part.length], data: Float64Array.from(part), isFloat: false };
      }
      case 'ConstantOfShape': {
        const shape = ints(arg(0))!;
        const a = n.attributes.get('value')?.value;
        const fill = a?.type === 'tensor' ? fromTensor(a.value) : undefined;
        const size = checkedSize(shape);
        return { dims: shape, data: new Float64Array(size).fill(fill?.data[0] ?? 0), isFloat: fill?.isFloat ?? true };
      }
      case 'Range': {
        const [start, limit, delta] = [arg(0).data[0], arg(1).data[0], arg(2).data[0]];
        const count = Math.max(Math.ceil((limit - start) / delta), 0);
        checkedSize([count]);
        return { dims: [count], data: Float64Array.from({ length: count }, (_, i) => start + i * delta), isFloat: arg(0).isFloat };
      }
      case 'Gather':
        return gather(arg(0), arg(1), intAttr(n.attributes, 'axis', 0));
      case 'Unsqueeze': {
        const a = arg(0);
        const axes = intsAttr(n.attributes, 'axes') ?? ints(opt(1));
        if (!axes) return undefined;
        const rank = a.dims.length + axes.length;
        const at = new Set(axes.map((x) => (x < 0 ? x + rank : x)));
        const dims: number[] = [];
        let k = 0;
        for (let i = 0; i < rank; i++) dims.push(at.has(i) ? 1 : a.dims[k++]);
        return { ...a, dims };
      }
      case 'Squeeze': {
        const a = arg(0);
        const axes = intsAttr(n.attributes, 'axes') ?? ints(opt(1));
        const drop = new Set((axes ?? a.dims.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0)).map((x) => (x < 0 ? x + a.dims.length : x)));
        return { ...a, dims: a.dims.filter((_, i) => !drop.has(i)) };
      }
      case 'Reshape': {
        const a = arg(0);
        const target = ints(arg(1))!;
        const allowZero = intAttr(n.attributes, 'allowzero', 0) === 1;
        const dims = target.map((d, i) => (d === 0 && !allowZero ? a.dims[i] : d));
        const known = dims.filter((d) => d !== -1).reduce((x, y) => x * y, 1);
        const total = a.data.length;
        const out = dims.map((d) => (d === -1 ? total / known : d));
        if (out.reduce((x, y) => x * y, 1) !== total || out.some((d) => !Number.isInteger(d) || d < 0)) return undefined;
        return { ...a, dims: out };
      }
      case 'Concat':
        return concat(n.inputs.map((_, i) => arg(i)), intAttr(n.attributes, 'axis', 0));
      case 'Transpose': {
        const a = arg(0);
        const perm = intsAttr(n.attributes, 'perm') ?? a.dims.map((_, i) => a.dims.length - 1 - i);
        return transpose(a, perm);
      }
      case 'Slice': {
        const a = arg(0);
        const starts = intsAttr(n.attributes, 'starts') ?? ints(opt(1));
        const ends = intsAttr(n.attributes, 'ends') ?? ints(opt(2));
        const axes = intsAttr(n.attributes, 'axes') ?? ints(opt(3));
        const steps = ints(opt(4));
        if (!starts || !ends) return undefined;
        return slice(a, starts, ends, axes ?? starts.map((_, i) => i), steps ?? starts.map(() => 1));
      }
      case 'Expand': {
        const a = arg(0);
        const shape = ints(arg(1))!;
        return broadcast([a, { dims: shape, data: new Float64Array(checkedSize(shape)), isFloat: a.isFloat }], (x) => x);
      }
      case 'Where': {
        const [c, x, y] = [arg(0), arg(1), arg(2)];
        return broadcast([c, x, y], (p, q, r) => (p ? q : r), x.isFloat || y.isFloat);
      }
      case 'Equal':
        return { ...broadcast([arg(0), arg(1)], (p, q) => (p === q ? 1 : 0)), isFloat: false };
      case 'Add':
        return broadcast([arg(0), arg(1)], (p, q) => p + q);
      case 'Sub':
        return broadcast([arg(0), arg(1)], (p, q) => p - q);
      case 'Mul':
        return broadcast([arg(0), arg(1)], (p, q) => p * q);
      case 'Div': {
        const [a, b] = [arg(0), arg(1)];
        const float = a.isFloat || b.isFloat;
        return broadcast([a, b], (p, q) => (float ? p / q : Math.trunc(p / q)));
      }
      case 'Pow':
        return broadcast([arg(0), arg(1)], (p, q) => p ** q);
      case 'Sqrt':
        return { ...arg(0), data: arg(0).data.map(Math.sqrt) };
      case 'Neg':
        return { ...arg(0), data: arg(0).data.map((x) => -x) };
      case 'Reciprocal':
        return { ...arg(0), data: arg(0).data.map((x) => 1 / x) };
      default:
        return undefined;
    }
  }
}

class FoldError extends Error {}

function checkedSize(dims: readonly number[]): number {
  if (dims.some((d) => !Number.isInteger(d) || d < 0)) throw new FoldError();
  const n = dims.reduce((a, b) => a * b, 1);
  if (n > MAX_ELEMENTS) throw new FoldError();
  return n;
}

function fromTensor(t: Tensor): Folded | undefined {
  const n = numel(t.shape);
  if (n > MAX_ELEMENTS) return undefined;
  const info = dtypeInfo(t.dtype);
  if (info.isFloat) return { dims: [...t.shape], data: Float64Array.from(toFloat32(t)), isFloat: true };
  const b = tensorBytes(t);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const read: Partial<Record<string, (i: number) => number>> = {
    int64: (i) => Number(dv.getBigInt64(8 * i, true)),
    int32: (i) => dv.getInt32(4 * i, true),
    int16: (i) => dv.getInt16(2 * i, true),
    int8: (i) => dv.getInt8(i),
    uint8: (i) => dv.getUint8(i),
    bool: (i) => dv.getUint8(i),
  };
  const f = read[t.dtype];
  return f ? { dims: [...t.shape], data: Float64Array.from({ length: n }, (_, i) => f(i)), isFloat: false } : undefined;
}

const stridesOf = (dims: readonly number[]): number[] => {
  const s = new Array<number>(dims.length).fill(1);
  for (let i = dims.length - 2; i >= 0; i--) s[i] = s[i + 1] * dims[i + 1];
  return s;
};

function broadcast(args: readonly Folded[], f: (...x: number[]) => number, isFloat = args.some((a) => a.isFloat)): Folded {
  const rank = Math.max(...args.map((a) => a.dims.length));
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) {
    let d = 1;
    for (const a of args) {
      const k = a.dims[a.dims.length - rank + i] ?? 1;
      if (k === d || k === 1) continue;
      if (d !== 1) throw new FoldError();
      d = k;
    }
    dims.push(d);
  }
  const size = checkedSize(dims);
  const out = new Float64Array(size);
  const maps = args.map((a) => {
    const s = stridesOf(a.dims);
    return dims.map((d, i) => {
      const j = a.dims.length - rank + i;
      return j < 0 || a.dims[j] === 1 ? 0 : s[j];
    });
  });
  const os = stridesOf(dims);
  const vals = new Array<number>(args.length);
  for (let k = 0; k < size; k++) {
    for (let a = 0; a < args.length; a++) {
      let off = 0;
      for (let i = 0; i < rank; i++) off += Math.floor(k / os[i]) % dims[i] * maps[a][i];
      vals[a] = args[a].data[off];
    }
    out[k] = f(...vals);
  }
  return { dims, data: out, isFloat };
}

function gather(a: Folded, idx: Folded, axis0: number): Folded {
  const axis = axis0 < 0 ? axis0 + a.dims.length : axis0;
  const outer = a.dims.slice(0, axis).reduce((x, y) => x * y, 1);
  const inner = a.dims.slice(axis + 1).reduce((x, y) => x * y, 1);
  const n = a.dims[axis];
  const dims = [...a.dims.slice(0, axis), ...idx.dims, ...a.dims.slice(axis + 1)];
  const out = new Float64Array(checkedSize(dims));
  let k = 0;
  for (let o = 0; o < outer; o++) {
    for (const i0 of idx.data) {
      const i = i0 < 0 ? i0 + n : i0;
      if (i < 0 || i >= n) throw new FoldError();
      for (let j = 0; j < inner; j++) out[k++] = a.data[(o * n + i) * inner + j];
    }
  }
  return { dims, data: out, isFloat: a.isFloat };
}

function concat(parts: readonly Folded[], axis0: number): Folded {
  const rank = parts[0].dims.length;
  const axis = axis0 < 0 ? axis0 + rank : axis0;
  const dims = parts[0].dims.map((d, i) => (i === axis ? parts.reduce((s, p) => s + p.dims[axis], 0) : d));
  const outer = dims.slice(0, axis).reduce((x, y) => x * y, 1);
  const out = new Float64Array(checkedSize(dims));
  let k = 0;
  for (let o = 0; o < outer; o++) {
    for (const p of parts) {
      const chunk = p.dims.slice(axis).reduce((x, y) => x * y, 1);
      out.set(p.data.subarray(o * chunk, (o + 1) * chunk), k);
      k += chunk;
    }
  }
  return { dims, data: out, isFloat: parts.some((p) => p.isFloat) };
}

function transpose(a: Folded, perm: readonly number[]): Folded {
  const dims = perm.map((p) => a.dims[p]);
  const is = stridesOf(a.dims);
  const os = stridesOf(dims);
  const out = new Float64Array(a.data.length);
  for (let k = 0; k < out.length; k++) {
    let off = 0;
    for (let i = 0; i < dims.length; i++) off += (Math.floor(k / os[i]) % dims[i]) * is[perm[i]];
    out[k] = a.data[off];
  }
  return { dims, data: out, isFloat: a.isFloat };
}

function slice(a: Folded, starts: readonly number[], ends: readonly number[], axes: readonly number[], steps: readonly number[]): Folded {
  const rank = a.dims.length;
  const ranges = a.dims.map((d) => ({ start: 0, step: 1, count: d }));
  axes.forEach((ax0, k) => {
    const ax = ax0 < 0 ? ax0 + rank : ax0;
    const d = a.dims[ax];
    const step = steps[k];
    if (!step) throw new FoldError();
    const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
    const s = clamp(starts[k] < 0 ? starts[k] + d : starts[k], step > 0 ? 0 : -1, step > 0 ? d : d - 1);
    const e = clamp(ends[k] < 0 ? ends[k] + d : ends[k], step > 0 ? 0 : -1, step > 0 ? d : d - 1);
    ranges[ax] = { start: s, step, count: Math.max(0, Math.ceil((e - s) / step)) };
  });
  const dims = ranges.map((r) => r.count);
  const is = stridesOf(a.dims);
  const os = stridesOf(dims);
  const out = new Float64Array(checkedSize(dims));
  for (let k = 0; k < out.length; k++) {
    let off = 0;
    for (let i = 0; i < rank; i++) off += (ranges[i].start + (Math.floor(k / os[i]) % dims[i]) * ranges[i].step) * is[i];
    out[k] = a.data[off];
  }
  return { dims, data: out, isFloat: a.isFloat };
}
