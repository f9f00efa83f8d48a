// The hot loops of a merge in WebAssembly: dst[i] = float32(src[i] * s + 0) with a NaN/Inf flag, four
// floats at a time in SIMD, and the centre taps of a RepVGG row (full kernel, 1x1, BN or identity)
// summed in float64. They run on memory the writer shares with them (a shared WebAssembly.Memory whose
// buffer holds the background writer's slots), so rows are merged where they will be written from.
//
// Same bits as the JavaScript loop: each float32 is widened exactly to float64, multiplied by the
// float64 scale and rounded once back to float32 (round to nearest even), as Math.fround(x * s) does;
// "+ 0" turns -0 into +0 as in the scalar code. Lanes that are NaN or Inf leave NaN in an accumulator
// of v - v, so one test at the end says whether every value was finite.

type ScaleFn = (ptr: number, count: number, scale: number) => number;

// The little of the WebAssembly JS API used here (the project's TypeScript libs do not declare it).
interface WasmModule {
  readonly __module: unique symbol;
}
interface WasmMemory {
  readonly buffer: ArrayBufferLike;
}
declare const WebAssembly: {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => WasmModule;
  Memory: new (d: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
  Instance: new (m: WasmModule, imports: Record<string, Record<string, unknown>>) => { readonly exports: Record<string, unknown> };
};

const PAGE = 65536;

/** Encodes an unsigned LEB128 integer. */
function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

function section(id: number, body: number[]): number[] {
  return [id, ...leb(body.length), ...body];
}

const SIMD = 0xfd;
const op = {
  localGet: (i: number) => [0x20, i],
  localSet: (i: number) => [0x21, i],
  i32Const: (v: number) => [0x41, v],
  v128Load: [SIMD, 0x00, 0x02, 0x00],
  v128Store: [SIMD, 0x0b, 0x02, 0x00],
  shuffle: (lanes: number[]) => [SIMD, 0x0d, ...lanes],
  f64x2Splat: [SIMD, 0x14],
  f32x4Ne: [SIMD, 0x42],
  anyTrue: [SIMD, 0x53],
  demoteZero: [SIMD, 0x5e],
  promoteLow: [SIMD, 0x5f],
  f32x4Add: [SIMD, 0xe4, 0x01],
  f32x4Sub: [SIMD, 0xe5, 0x01],
  f64x2Add: [SIMD, 0xf0, 0x01],
  f64x2Mul: [SIMD, 0xf2, 0x01],
};

// Locals: 0 ptr, 1 count (floats, a multiple of 4), 2 scale (f64); 3 end; 4 splat scale, 5 flag
// accumulator, 6 v, 7 low half, 8 high half, 9 zero (v128 locals start at zero).
const [PTR, COUNT, SCALE, END, S, ACC, V, LO, HI, ZERO] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
const HIGH_TO_LOW = [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7];
const JOIN_LOWS = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];

/** float32x2 in the low lanes of `from` → scaled, rounded float32x2 in the low lanes of `to`. */
const scaleHalf = (to: number, ...from: number[]) => [...from, ...op.promoteLow, ...op.localGet(S), ...op.f64x2Mul, ...op.localGet(ZERO), ...op.f64x2Add, ...op.demoteZero, ...op.localSet(to)];

const SCALE_BODY = [
  // local declarations: 1 x i32, 6 x v128
  2, 1, 0x7f, 6, 0x7b,
  ...op.localGet(SCALE), ...op.f64x2Splat, ...op.localSet(S),
  ...op.localGet(PTR), ...op.localGet(COUNT), ...op.i32Const(2), 0x74, 0x6a, ...op.localSet(END),
  0x02, 0x40, 0x03, 0x40,
  ...op.localGet(PTR), ...op.localGet(END), 0x4f, 0x0d, 0x01,
  ...op.localGet(PTR), ...op.v128Load, ...op.localSet(V),
  ...scaleHalf(LO, ...op.localGet(V)),
  ...scaleHalf(HI, ...op.localGet(V), ...op.localGet(V), ...op.shuffle(HIGH_TO_LOW)),
  ...op.localGet(LO), ...op.localGet(HI), ...op.shuffle(JOIN_LOWS), ...op.localSet(V),
  ...op.localGet(PTR), ...op.localGet(V), ...op.v128Store,
  ...op.localGet(ACC), ...op.localGet(V), ...op.localGet(V), ...op.f32x4Sub, ...op.f32x4Add, ...op.localSet(ACC),
  ...op.localGet(PTR), ...op.i32Const(16), 0x6a, ...op.localSet(PTR),
  0x0c, 0x00, 0x0b, 0x0b,
  ...op.localGet(ACC), ...op.localGet(ACC), ...op.f32x4Ne, ...op.anyTrue,
  0x0b,
];

// Scalar opcodes.
const f32Load = [0x2a, 0x02, 0x00];
const f32Store = [0x38, 0x02, 0x00];
const [I32_ADD, I32_MUL, I32_SHL, I32_EQ, I32_GE_U] = [0x6a, 0x6c, 0x74, 0x46, 0x4f];
const [F32_ADD, F32_SUB, F32_NE, F64_ADD, F64_MUL, DEMOTE, PROMOTE] = [0x92, 0x93, 0x5c, 0xa0, 0xa2, 0xb6, 0xbb];
const F64_ZERO = [0x44, 0, 0, 0, 0, 0, 0, 0, 0];
/** Loop `k` from 0 while below `count`: block { loop { if k >= count break; body; k++; continue } }. */
const countLoop = (k: number, count: number, body: number[]) => [
  0x02, 0x40, 0x03, 0x40,
  ...op.localGet(k), ...op.localGet(count), I32_GE_U, 0x0d, 0x01,
  ...body,
  ...op.localGet(k), ...op.i32Const(1), I32_ADD, ...op.localSet(k),
  0x0c, 0x00, 0x0b, 0x0b,
];

// centres(row, count, stride, scratch, hasOne, s, s1, at, sid) -> i32: for k < count, the tap at
// row + k*stride (bytes) becomes ((0 + x*s) + one[k]*s1) + (k == at ? sid : 0) in float64, rounded into
// scratch[k] (where one[k] was); returns 1 when a result is not finite. Locals: 9 k, 10 a, 11 v, 12 bad.
const [ROW, CNT, STRIDE, SCRATCH, HAS_ONE, SC, S1, AT, SID, K, A, VF, BAD] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
const scratchAt = [...op.localGet(SCRATCH), ...op.localGet(K), ...op.i32Const(2), I32_SHL, I32_ADD];
const CENTRES_BODY = [
  3, 1, 0x7f, 1, 0x7c, 2, 0x7d,
  ...countLoop(K, CNT, [
    ...op.localGet(ROW), ...op.localGet(K), ...op.localGet(STRIDE), I32_MUL, I32_ADD, ...f32Load, PROMOTE,
    ...op.localGet(SC), F64_MUL, ...F64_ZERO, F64_ADD, ...op.localSet(A),
    ...op.localGet(HAS_ONE), 0x04, 0x40,
    ...op.localGet(A), ...scratchAt, ...f32Load, PROMOTE, ...op.localGet(S1), F64_MUL, F64_ADD, ...op.localSet(A),
    0x0b,
    ...op.localGet(K), ...op.localGet(AT), I32_EQ, 0x04, 0x40,
    ...op.localGet(A), ...op.localGet(SID), F64_ADD, ...op.localSet(A),
    0x0b,
    ...op.localGet(A), DEMOTE, ...op.localSet(VF),
    ...scratchAt, ...op.localGet(VF), ...f32Store,
    ...op.localGet(BAD), ...op.localGet(VF), ...op.localGet(VF), F32_SUB, F32_ADD, ...op.localSet(BAD),
  ]),
  ...op.localGet(BAD), ...op.localGet(BAD), F32_NE,
  0x0b,
];

// scatter(row, count, stride, scratch): the tap at row + k*stride (bytes) = scratch[k]. Local: 4 k.
const SCATTER_BODY = [
  1, 1, 0x7f,
  ...countLoop(4, 1, [
    ...op.localGet(0), ...op.localGet(4), ...op.localGet(2), I32_MUL, I32_ADD,
    ...op.localGet(3), ...op.localGet(4), ...op.i32Const(2), I32_SHL, I32_ADD, ...f32Load,
    ...f32Store,
  ]),
  0x0b,
];

// move(dst, src, n): memory.copy, which moves bytes within shared memory at memmove speed (a typed
// array's copyWithin or set on a shared buffer goes a few bytes at a time).
const MOVE_BODY = [0, ...op.localGet(0), ...op.localGet(1), ...op.localGet(2), 0xfc, 10, 0, 0, 0x0b];

function moduleBytes(): Uint8Array {
  const name = (s: string) => [...leb(s.length), ...Buffer.from(s, 'latin1')];
  const [I32, F64] = [0x7f, 0x7c];
  const code = (body: number[]) => [...leb(body.length), ...body];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [
      4,
      0x60, 3, I32, I32, F64, 1, I32,
      0x60, 9, I32, I32, I32, I32, I32, F64, F64, I32, F64, 1, I32,
      0x60, 4, I32, I32, I32, I32, 0,
      0x60, 3, I32, I32, I32, 0,
    ]),
    // memory "e"."m": shared, 1 to 65536 pages
    ...section(2, [1, ...name('e'), ...name('m'), 0x02, 0x03, ...leb(1), ...leb(65536)]),
    ...section(3, [4, 0, 1, 2, 3]),
    ...section(7, [4, ...name('scale'), 0x00, 0, ...name('centres'), 0x00, 1, ...name('scatter'), 0x00, 2, ...name('move'), 0x00, 3]),
    ...section(10, [4, ...code(SCALE_BODY), ...code(CENTRES_BODY), ...code(SCATTER_BODY), ...code(MOVE_BODY)]),
  ]);
}

let compiled: WasmModule | null | undefined;

/** The compiled module, or null where this runtime has no WebAssembly SIMD or shared memory. */
function wasmModule(): WasmModule | null {
  if (compiled === undefined) {
    const bytes = moduleBytes();
    compiled = typeof WebAssembly === 'object' && typeof SharedArrayBuffer === 'function' && WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  }
  return compiled;
}

interface Kernels {
  readonly scale: ScaleFn;
  readonly centres: (row: number, count: number, stride: number, scratch: number, hasOne: number, s: number, s1: number, at: number, sid: number) => number;
  readonly scatter: (row: number, count: number, stride: number, scratch: number) => void;
  readonly move: (dst: number, src: number, n: number) => void;
  /** A page past the caller's bytes for centre sums, as float32. */
  readonly scratch: Float32Array;
}

const kernels = new WeakMap<ArrayBufferLike, Kernels>();

/**
 * A shared buffer of at least `bytes` bytes whose float32 rows scaleRow and the centre functions handle
 * in WebAssembly. Falls back to a plain SharedArrayBuffer (and the scalar loops) where WebAssembly cannot serve.
 */
export function simdSharedBuffer(bytes: number): SharedArrayBuffer {
  const mod = wasmModule();
  if (!mod) return new SharedArrayBuffer(bytes);
  const pages = Math.ceil(bytes / PAGE);
  const memory = new WebAssembly.Memory({ initial: pages + 1, maximum: pages + 1, shared: true });
  const instance = new WebAssembly.Instance(mod, { e: { m: memory } });
  const buffer = memory.buffer as SharedArrayBuffer;
  const e = instance.exports as Omit<Kernels, 'scratch'>;
  kernels.set(buffer, { scale: e.scale, centres: e.centres, scatter: e.scatter, move: e.move, scratch: new Float32Array(buffer, pages * PAGE, PAGE / 4) });
  return buffer;
}

/** Copies bytes [src, src + n) of `bytes` to `dst` (the ranges may overlap), in WebAssembly where `bytes` lies in SIMD memory. */
export function moveBytes(bytes: Uint8Array, dst: number, src: number, n: number): void {
  const move = kernels.get(bytes.buffer)?.move;
  if (move) move(bytes.byteOffset + dst, bytes.byteOffset + src, n);
  else bytes.copyWithin(dst, src, src + n);
}

/** The terms a RepVGG row adds at its centre taps besides the full kernel's own (scaled by `s`). */
export interface CentreTerms {
  readonly s: number;
  /** The 1x1 branch's weights for this output channel (one per centre tap), scaled by s1. */
  readonly one?: Float32Array;
  readonly s1: number;
  /** The centre tap (by input channel) where a BN or identity branch adds `sid`; -1 for none. */
  readonly at: number;
  readonly sid: number;
}

/**
 * When `rows` lies in SIMD memory: sums `count` centre taps (float index first, first + stride, …) with
 * the other branches' terms in float64, in that order, into a scratch row that simdScatter writes back
 * once the row is scaled. Returns 0 (all finite) or 1, or undefined when `rows` is not in SIMD memory.
 */
export function simdCentres(rows: Float32Array, first: number, count: number, stride: number, t: CentreTerms): number | undefined {
  const k = kernels.get(rows.buffer);
  if (!k || count > k.scratch.length) return undefined;
  if (t.one) k.scratch.set(t.one);
  return k.centres(rows.byteOffset + 4 * first, count, 4 * stride, k.scratch.byteOffset, t.one ? 1 : 0, t.s, t.s1, t.at, t.sid);
}

/** Writes the centre sums of the last simdCentres call into their taps. */
export function simdScatter(rows: Float32Array, first: number, count: number, stride: number): void {
  const k = kernels.get(rows.buffer)!;
  k.scatter(rows.byteOffset + 4 * first, count, 4 * stride, k.scratch.byteOffset);
}

/**
 * rows[at .. at + count) = float32(rows[i] * scale + 0), in place. Returns 0 when every result is
 * finite, something else (NaN) when one is not.
 */
export function scaleRow(rows: Float32Array, at: number, count: number, scale: number): number {
  const simd = kernels.get(rows.buffer)?.scale;
  let start = at;
  let bad = 0;
  if (simd) {
    const whole = count - (count % 4);
    if (simd(rows.byteOffset + 4 * at, whole, scale)) bad = NaN;
    start = at + whole;
  }
  for (let i = start; i < at + count; i++) {
    const v = Math.fround(rows[i] * scale + 0);
    rows[i] = v;
    bad += v - v;
  }
  return bad;
}
