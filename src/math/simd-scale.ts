// The hot loop of a merge, dst[i] = float32(src[i] * s + 0) with a NaN/Inf flag, four floats at a time
// in WebAssembly SIMD. It runs on memory the writer shares with it (a shared WebAssembly.Memory, whose
// buffer is the background writer's slots), so rows are scaled where they will be written from.
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

function moduleBytes(): Uint8Array {
  const body = [
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
  const name = (s: string) => [...leb(s.length), ...Buffer.from(s, 'latin1')];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    // (i32, i32, f64) -> i32
    ...section(1, [1, 0x60, 3, 0x7f, 0x7f, 0x7c, 1, 0x7f]),
    // memory "e"."m": shared, 1 to 65536 pages
    ...section(2, [1, ...name('e'), ...name('m'), 0x02, 0x03, ...leb(1), ...leb(65536)]),
    ...section(3, [1, 0]),
    ...section(7, [1, ...name('scale'), 0x00, 0]),
    ...section(10, [1, ...leb(body.length), ...body]),
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

const scalers = new WeakMap<ArrayBufferLike, ScaleFn>();

/**
 * A shared buffer of at least `bytes` bytes whose float32 rows scaleRow handles in SIMD. Falls back to
 * a plain SharedArrayBuffer (and the scalar loop) where WebAssembly cannot serve.
 */
export function simdSharedBuffer(bytes: number): SharedArrayBuffer {
  const mod = wasmModule();
  if (!mod) return new SharedArrayBuffer(bytes);
  const pages = Math.ceil(bytes / PAGE);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  const instance = new WebAssembly.Instance(mod, { e: { m: memory } });
  const buffer = memory.buffer as SharedArrayBuffer;
  scalers.set(buffer, instance.exports.scale as ScaleFn);
  return buffer;
}

/**
 * rows[at .. at + count) = float32(rows[i] * scale + 0), in place. Returns 0 when every result is
 * finite, something else (NaN) when one is not.
 */
export function scaleRow(rows: Float32Array, at: number, count: number, scale: number): number {
  const simd = scalers.get(rows.buffer);
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
