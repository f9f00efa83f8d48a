// Re-parameterization math, shared by every path (ONNX rules, checkpoints) through reparam/merge.ts.
//
// A branch is an affine map of the input, y = W * x + b, with W in OIHW layout (I = C_in / groups).
//   per-channel affine (a BatchNorm, a scale): y = beta + (x - mean) * s; a BN has s = gamma / sqrt(var + eps),
//              so folded into a conv: W' = W * s[o];  b' = beta + (b - mean) * s
//   pad:       a kh x kw kernel sits at the centre of a KH x KW one (offsets (KH-kh)/2, (KW-kw)/2);
//              with matching "same" padding the outputs coincide.
//   skip:      x itself is a conv with W[o, o mod I, KH/2, KW/2] = 1 (I = C / groups), zero elsewhere.
//   sum:       convs with the same geometry add: (W1 + W2) * x + (b1 + b2).
//   after:     an affine after the sum multiplies every branch's scale and maps the summed bias.
// Accumulation is done in float64 and rounded once to float32. Branches reduced elsewhere (math/compose.ts)
// arrive as float64 kernels and are rounded here, once, with the rest.
import { scaleRow, simdCentres, simdScatter } from './simd-scale';

/** Kernel weights or biases: float32 as read, or float64 when computed by an earlier reduction. */
export type Floats = Float32Array | Float64Array;

export interface Kernel {
  /** [out, in/groups, kh, kw] */
  readonly shape: readonly [number, number, number, number];
  readonly weight: Floats;
  readonly bias: Floats;
}

export interface BatchNormParams {
  readonly gamma: Float32Array;
  readonly beta: Float32Array;
  readonly mean: Float32Array;
  readonly variance: Float32Array;
  readonly eps: number;
}

/** y = beta + (x - mean) * scale, per channel. */
export interface Affine {
  readonly scale: Float64Array;
  readonly beta: ArrayLike<number>;
  readonly mean: ArrayLike<number>;
}

export function affineOfBn(bn: BatchNormParams): Affine {
  const scale = new Float64Array(bn.gamma.length);
  for (let i = 0; i < scale.length; i++) scale[i] = bn.gamma[i] / Math.sqrt(bn.variance[i] + bn.eps);
  return { scale, beta: bn.beta, mean: bn.mean };
}

/** `second` applied after `first`: beta2 + (beta1 + (x - mean1) s1 - mean2) s2 = beta' + (x - mean1) s1 s2. */
export function composeAffine(first: Affine, second: Affine): Affine {
  const n = first.scale.length;
  const scale = new Float64Array(n);
  const beta = new Float64Array(n);
  for (let c = 0; c < n; c++) {
    scale[c] = first.scale[c] * second.scale[c];
    beta[c] = second.beta[c] + (first.beta[c] - second.mean[c]) * second.scale[c];
  }
  return { scale, beta, mean: first.mean };
}

/** A branch in a block, before merging. */
export type Branch =
  /** A conv, then an optional per-channel affine (its BatchNorm). */
  | { readonly kind: 'conv'; readonly kernel: Kernel; readonly affine?: Affine }
  /** x itself, through an optional per-channel affine (an identity BatchNorm). */
  | { readonly kind: 'skip'; readonly affine?: Affine };

export interface MergeOptions {
  /**
   * The result may take over the weight array of the block's one full-size conv branch, which the merge
   * then overwrites: for callers whose branch weights are their own copies (read from a file), this
   * saves a second kernel-sized buffer. Ignored when the block has no single full-size conv.
   */
  readonly reuseFullKernel?: boolean;
}

export interface MergeGeometry {
  readonly channelsIn: number;
  readonly channelsOut: number;
  readonly groups: number;
  /** Per-channel affine after the sum (QARepVGG's BatchNorm). */
  readonly post?: Affine;
  /** Added to the summed bias before `post` (constant summands). */
  readonly extraBias?: ArrayLike<number>;
}

/** A merged kernel, and whether every merged value is finite (NaN or Inf in, or float32 overflow). */
export interface MergedKernel {
  readonly shape: readonly [number, number, number, number];
  readonly weight: Float32Array;
  readonly bias: Float32Array;
  readonly finite: boolean;
}

/**
 * Merge parallel branches of one block into a single kernel of the largest size. Works one output
 * channel at a time in float64, so besides the result it holds only one channel's worth of scratch:
 * no padded or folded copy of any branch is made.
 */
export function mergeBranches(branches: readonly Branch[], geometry: MergeGeometry, options: MergeOptions = {}): MergedKernel {
  const m = prepareMerge(branches, geometry);
  const { per, channelsOut } = m.g;
  if (m.full >= 0) {
    const src = (branches[m.full] as ConvBranch).kernel.weight;
    const weight = options.reuseFullKernel && src instanceof Float32Array ? src : new Float32Array(channelsOut * per);
    const rows = new FullKernelRows(branches, m.scales, m.full, m.g);
    const finite = rows.merge(0, src, weight);
    return { shape: m.shape, weight, bias: m.bias, finite: finite && allFinite(m.bias) };
  }
  const weight = new Float32Array(channelsOut * per);
  mergeGeneral(branches, m.scales, weight, m.g);
  return { shape: m.shape, weight, bias: m.bias, finite: allFinite(weight) && allFinite(m.bias) };
}

/** A block merged a few output channels at a time, for writers that stream the result. */
export interface RowMerge {
  readonly shape: readonly [number, number, number, number];
  readonly bias: Float32Array;
  /** Floats per output channel. */
  readonly rowLength: number;
  /**
   * `rows` holds the full-size branch's weights of output channels `from`, `from + 1`, … and is
   * overwritten with the merged ones. False when a merged value is not finite.
   */
  mergeRows(from: number, rows: Float32Array): boolean;
}

/** Stands in for the full-size branch's weights in rowMerge, which gets that kernel's rows a slice at a time. */
export const ROWS_GIVEN = new Float32Array(0);

/**
 * For a block with exactly one full-size conv branch: the merge, one slice of output channels at a time.
 * That branch's weight array is never read (it may be empty); the caller feeds its rows to `mergeRows`.
 * Gives the same bits as mergeBranches.
 */
export function rowMerge(branches: readonly Branch[], geometry: MergeGeometry): RowMerge {
  const m = prepareMerge(branches, geometry);
  if (m.full < 0) throw new RangeError('a row-by-row merge needs exactly one full-size conv branch');
  const rows = new FullKernelRows(branches, m.scales, m.full, m.g);
  return {
    shape: m.shape,
    bias: m.bias,
    rowLength: m.g.per,
    mergeRows: (from, r) => {
      if (r.length % m.g.per || from + r.length / m.g.per > m.g.channelsOut) throw new RangeError(`${r.length} floats are not whole rows from row ${from}`);
      return rows.merge(from, r, r);
    },
  };
}

/** The index of the block's one full-size conv branch, or -1 when there is none or several. */
export function fullSizeBranch(branches: readonly Branch[]): number {
  const [kh, kw] = mergedSize(branches);
  const full = branches.flatMap((b, j) => (b.kind === 'conv' && b.kernel.shape[2] === kh && b.kernel.shape[3] === kw ? [j] : []));
  return full.length === 1 ? full[0] : -1;
}

type ConvBranch = Extract<Branch, { kind: 'conv' }>;

interface RowGeometry {
  readonly ipg: number;
  readonly kh: number;
  readonly kw: number;
  readonly per: number;
  readonly channelsOut: number;
}

type Scales = readonly (Float64Array | undefined)[];

function mergedSize(branches: readonly Branch[]): [number, number] {
  let kh = 1;
  let kw = 1;
  for (const b of branches) {
    if (b.kind === 'conv') {
      kh = Math.max(kh, b.kernel.shape[2]);
      kw = Math.max(kw, b.kernel.shape[3]);
    }
  }
  return [kh, kw];
}

/** Checks the branches fit together; the scales (after `post`), the merged bias, and which branch is the one full-size conv. */
function prepareMerge(branches: readonly Branch[], geometry: MergeGeometry) {
  const [kh, kw] = mergedSize(branches);
  const { channelsIn, channelsOut, groups, post, extraBias } = geometry;
  if (channelsIn % groups || channelsOut % groups) throw new RangeError(`${channelsIn}→${channelsOut} channels do not split into ${groups} groups`);
  const ipg = channelsIn / groups;
  for (const b of branches) {
    if (b.kind === 'conv') {
      const [o, i, h, w] = b.kernel.shape;
      if (o !== channelsOut || i !== ipg) throw new RangeError(`branch kernel [${b.kernel.shape}] does not map ${channelsIn}→${channelsOut} in ${groups} groups`);
      if ((kh - h) % 2 || (kw - w) % 2) throw new RangeError(`a ${h}x${w} kernel does not centre inside ${kh}x${kw}`);
    } else {
      if (channelsIn !== channelsOut) throw new RangeError('a skip branch needs as many inputs as outputs');
      if (kh % 2 === 0 || kw % 2 === 0) throw new RangeError(`a skip needs an odd kernel, not ${kh}x${kw}`);
    }
    if (b.affine && b.affine.scale.length !== channelsOut) throw new RangeError(`an affine of ${b.affine.scale.length} channels in a block of ${channelsOut}`);
  }
  if (post && post.scale.length !== channelsOut) throw new RangeError(`an affine of ${post.scale.length} channels after a block of ${channelsOut}`);
  const own = branches.map((b) => b.affine?.scale);
  const scales: Scales = post ? own.map((s) => (s ? s.map((v, c) => v * post.scale[c]) : post.scale)) : own;
  const bias = new Float32Array(channelsOut);
  for (let c = 0; c < channelsOut; c++) {
    let b0 = 0;
    for (let j = 0; j < branches.length; j++) {
      const b = branches[j];
      const a = b.affine;
      const kb = b.kind === 'conv' ? b.kernel.bias[c] : 0;
      b0 += a ? a.beta[c] + (kb - a.mean[c]) * a.scale[c] : kb;
    }
    if (extraBias) b0 += extraBias[c];
    bias[c] = post ? post.beta[c] + (b0 - post.mean[c]) * post.scale[c] : b0;
  }
  const shape: [number, number, number, number] = [channelsOut, ipg, kh, kw];
  return { shape, scales, bias, full: fullSizeBranch(branches), g: { ipg, kh, kw, per: ipg * kh * kw, channelsOut } };
}

export function allFinite(v: Float32Array): boolean {
  let bad = 0;
  for (let i = 0; i < v.length; i++) bad += v[i] - v[i];
  return bad === 0;
}

/** Where tap `t` of a kh x kw kernel falls in a centred h x w one (per input channel), or -1. */
function tapIn(t: number, g: RowGeometry, h: number, w: number): number {
  const i = Math.floor(t / (g.kh * g.kw));
  const y = Math.floor((t % (g.kh * g.kw)) / g.kw) - (g.kh - h) / 2;
  const x = (t % g.kw) - (g.kw - w) / 2;
  return y >= 0 && y < h && x >= 0 && x < w ? (i * h + y) * w + x : -1;
}

/**
 * The usual block (one full-size kernel beside smaller ones and identities): most taps have a single
 * term, written straight from the full kernel; only taps the other branches touch are summed, in branch
 * order in float64 as the general path does, so both give the same bits.
 */
class FullKernelRows {
  /** Taps (within one output channel) that other branches touch. */
  private readonly touched: Int32Array;
  /** Per branch other than the primary conv: the touched positions it adds to, and the tap of each in its own kernel. */
  private readonly adds: ({ readonly at: Int32Array; readonly tap: Int32Array } | undefined)[];
  private readonly perBranch: number[];
  /** Position in `touched` of each input channel's centre tap, where an identity adds its 1. */
  private readonly centreAt: Int32Array;
  private readonly acc: Float64Array;
  /** The usual RepVGG order (full kernel first, then a 1x1 conv and/or one BN or identity): the centre taps can be summed in SIMD memory. */
  private readonly repvgg?: { readonly one?: number; readonly id?: number; readonly centre: number };

  constructor(private readonly branches: readonly Branch[], private readonly scales: Scales, private readonly primary: number, private readonly g: RowGeometry) {
    const { ipg, kh, kw, per } = g;
    const centre = ((kh - 1) / 2) * kw + (kw - 1) / 2;
    const mask = new Uint8Array(per);
    for (let j = 0; j < branches.length; j++) {
      const b = branches[j];
      if (j === primary) continue;
      if (b.kind === 'conv') {
        for (let t = 0; t < per; t++) if (tapIn(t, g, b.kernel.shape[2], b.kernel.shape[3]) >= 0) mask[t] = 1;
      } else {
        for (let i = 0; i < ipg; i++) mask[i * kh * kw + centre] = 1;
      }
    }
    const list: number[] = [];
    mask.forEach((m, t) => m && list.push(t));
    const touched = Int32Array.from(list);
    this.touched = touched;
    this.adds = branches.map((b, j) => {
      if (b.kind !== 'conv' || j === primary) return undefined;
      const at: number[] = [];
      const tap: number[] = [];
      touched.forEach((t, k) => {
        const q = tapIn(t, g, b.kernel.shape[2], b.kernel.shape[3]);
        if (q >= 0) at.push(k), tap.push(q);
      });
      return { at: Int32Array.from(at), tap: Int32Array.from(tap) };
    });
    this.perBranch = branches.map((b) => (b.kind === 'conv' ? ipg * b.kernel.shape[2] * b.kernel.shape[3] : 0));
    this.centreAt = new Int32Array(ipg).fill(-1);
    touched.forEach((t, k) => {
      if (t % (kh * kw) === centre) this.centreAt[Math.floor(t / (kh * kw))] = k;
    });
    this.acc = new Float64Array(touched.length);
    const rest = branches.slice(1);
    const ones = rest.flatMap((b, i) => (b.kind === 'conv' && b.kernel.shape[2] === 1 && b.kernel.shape[3] === 1 && b.kernel.weight instanceof Float32Array ? [i + 1] : []));
    const ids = rest.flatMap((b, i) => (b.kind !== 'conv' ? [i + 1] : []));
    if (primary === 0 && kh % 2 && kw % 2 && ones.length + ids.length === rest.length && ones.length <= 1 && ids.length <= 1 && (ones[0] ?? 0) < (ids[0] ?? Infinity)) {
      this.repvgg = { one: ones[0], id: ids[0], centre };
    }
  }

  /** Merges the rows in `src` (output channels from, from + 1, …) into `dst`, which may be `src`. False when a value is not finite. */
  merge(from: number, src: Floats, dst: Float32Array): boolean {
    const { branches, scales, primary, touched, adds, perBranch, centreAt, acc } = this;
    const { ipg, per } = this.g;
    const ps = scales[primary];
    const rows = src.length / per;
    // Sums v - v, which is 0 for finite v and NaN otherwise: one add per weight instead of a branch.
    let bad = 0;
    const fast = this.repvgg && src === dst ? this.repvgg : undefined;
    for (let r = 0; r < rows; r++) {
      const c = from + r;
      const base = r * per;
      const s = ps ? ps[c] : 1;
      if (fast) {
        const { one, id, centre } = fast;
        const stride = this.g.kh * this.g.kw;
        const terms = {
          s,
          one: one === undefined ? undefined : ((branches[one] as ConvBranch).kernel.weight as Float32Array).subarray(c * ipg, (c + 1) * ipg),
          s1: one !== undefined && scales[one] ? scales[one]![c] : 1,
          at: id === undefined ? -1 : c % ipg,
          sid: id !== undefined && scales[id] ? scales[id]![c] : 1,
        };
        const centres = simdCentres(dst, base + centre, ipg, stride, terms);
        if (centres !== undefined) {
          bad += centres + scaleRow(dst, base, per, s);
          simdScatter(dst, base + centre, ipg, stride);
          continue;
        }
      }
      // The touched taps are summed, from 0 in branch order, before the row is written, so `dst` may be `src`.
      for (let j = 0; j < branches.length; j++) {
        const b = branches[j];
        const sj = scales[j] ? scales[j]![c] : 1;
        if (j === primary) {
          // As the first term, 0 + x·s (which is x·s + 0) sets the sum; later it adds.
          if (j === 0) for (let k = 0; k < touched.length; k++) acc[k] = src[base + touched[k]] * sj + 0;
          else for (let k = 0; k < touched.length; k++) acc[k] += src[base + touched[k]] * sj;
          continue;
        }
        if (j === 0) acc.fill(0);
        if (b.kind === 'conv') {
          const w = b.kernel.weight;
          const { at, tap } = adds[j]!;
          const off = c * perBranch[j];
          for (let m = 0; m < at.length; m++) acc[at[m]] += w[off + tap[m]] * sj;
        } else {
          acc[centreAt[c % ipg]] += sj;
        }
      }
      // "+ 0" as in the general path's 0 + x·s, so that -0 comes out as +0 there and here alike.
      if (src === dst) bad += scaleRow(dst, base, per, s);
      else {
        for (let t = 0; t < per; t++) {
          const v = Math.fround(src[base + t] * s + 0);
          dst[base + t] = v;
          bad += v - v;
        }
      }
      for (let k = 0; k < touched.length; k++) {
        const v = Math.fround(acc[k]);
        dst[base + touched[k]] = v;
        bad += v - v;
      }
    }
    return bad === 0;
  }
}

/** Any mix of kernel sizes: one output channel at a time in a float64 scratch. */
function mergeGeneral(branches: readonly Branch[], scales: Scales, weight: Float32Array, g: RowGeometry): void {
  const { ipg, kh, kw, channelsOut } = g;
  const per = ipg * kh * kw;
  const centre = ((kh - 1) / 2) * kw + (kw - 1) / 2;
  const acc = new Float64Array(per);
  for (let c = 0; c < channelsOut; c++) {
    acc.fill(0);
    for (let j = 0; j < branches.length; j++) {
      const b = branches[j];
      const s = scales[j] ? scales[j]![c] : 1;
      if (b.kind === 'conv') {
        const [, , h, w] = b.kernel.shape;
        const src = b.kernel.weight;
        const dy = (kh - h) / 2;
        const dx = (kw - w) / 2;
        const base = c * ipg * h * w;
        for (let i = 0; i < ipg; i++) {
          for (let y = 0; y < h; y++) {
            const row = (i * kh + y + dy) * kw + dx;
            const from = base + (i * h + y) * w;
            for (let x = 0; x < w; x++) acc[row + x] += src[from + x] * s;
          }
        }
      } else {
        acc[(c % ipg) * kh * kw + centre] += s;
      }
    }
    weight.set(acc, c * per);
  }
}
