// A chain of linear steps reduced to one kernel and bias, in float64: for the branches math/kernel.ts
// does not merge as they are (DiverseBranchBlock's 1x1 → kxk and average-pool branches, cropped or
// off-centre convs). reparam/geometry.ts has already checked that the chain is one conv of x; here the
// numbers follow.
//
// The branch's kernel K[c, i, ·] (i in c's group) starts as the identity and each step maps it:
//   conv W (stride s, dilation δ):  K'[o, i] = Σ_m W[o, m] ⊛ K[m, i]   (m over o's group; ⊛ places W's tap t
//                                   δ·S pixels apart, S the stride so far), b'[o] = c[o] + Σ_m (Σ_t W[o, m, t]) · b[m]
//   per-channel affine:             K'[o] = K[o] · scale[o],  b' = beta + (b − mean) · scale
//   average pool k:                 K'[c] = (1 / k) ⊛ K[c],  b' = b
//   pad or crop:                    nothing: only where the kernel sits moves (geometry.ts)
// The bias line holds because every pad inside a chain pads with what the steps before give for a zero
// input (geometry.ts checks it), so each step sees b wherever it reads outside x.
import { Affine, Floats, Kernel } from './kernel';

type Pair = readonly [number, number];

export type ChainStep =
  | {
      readonly op: 'conv';
      readonly shape: readonly [number, number, number, number];
      readonly weight: Floats;
      readonly bias?: Floats;
      readonly group: number;
      readonly dilation: Pair;
      readonly stride: Pair;
      /** Add the identity at the centre tap (a conv that stores only its difference from the identity). */
      readonly plusIdentity?: boolean;
    }
  | { readonly op: 'affine'; readonly affine: Affine }
  | { readonly op: 'pool'; readonly kernel: Pair; readonly stride: Pair }
  | { readonly op: 'pad' };

export interface Reduced {
  /** [out, in / group, taps, taps] on the grid of `dilation` */
  readonly shape: readonly [number, number, number, number];
  readonly weight: Float64Array;
  readonly bias: Float64Array;
  readonly dilation: Pair;
}

interface State {
  channels: number;
  taps: [number, number];
  dil: [number, number];
  stride: [number, number];
  k: Float64Array;
  bias: Float64Array;
}

/** The chain applied to `channelsIn` channels, as one kernel of `group` groups and a bias. */
export function reduceChain(steps: readonly ChainStep[], channelsIn: number, group: number): Reduced {
  const ipg = channelsIn / group;
  let st: State = { channels: channelsIn, taps: [1, 1], dil: [1, 1], stride: [1, 1], k: new Float64Array(channelsIn * ipg), bias: new Float64Array(channelsIn) };
  for (let c = 0; c < channelsIn; c++) st.k[c * ipg + (c % ipg)] = 1;
  for (const s of steps) {
    if (s.op === 'pad') continue;
    if (s.op === 'affine') st = scaled(st, s.affine, ipg);
    else if (s.op === 'conv') st = convolved(st, s, ipg);
    else st = pooled(st, s.kernel, s.stride, ipg);
  }
  return { shape: [st.channels, ipg, st.taps[0], st.taps[1]], weight: st.k, bias: st.bias, dilation: st.dil };
}

/** The bias a chain gives for a zero input (what a pad after it must hold): only biases and small weights are read. */
export function chainBias(steps: readonly ChainStep[], channelsIn: number): Float64Array {
  let b = new Float64Array(channelsIn);
  for (const s of steps) {
    if (s.op === 'affine') b = b.map((v, c) => s.affine.beta[c] + (v - s.affine.mean[c]) * s.affine.scale[c]);
    else if (s.op === 'conv') {
      const [o, mpg, kh, kw] = s.shape;
      const opg = o / s.group;
      const next = new Float64Array(o);
      for (let oc = 0; oc < o; oc++) {
        let acc = s.bias ? s.bias[oc] : 0;
        const g = Math.floor(oc / opg);
        for (let m = 0; m < mpg; m++) {
          let sum = s.plusIdentity && m === oc % mpg ? 1 : 0;
          for (let t = 0; t < kh * kw; t++) sum += s.weight[(oc * mpg + m) * kh * kw + t];
          acc += sum * b[g * mpg + m];
        }
        next[oc] = acc;
      }
      b = next;
    }
  }
  return b;
}

function scaled(st: State, a: Affine, ipg: number): State {
  const per = ipg * st.taps[0] * st.taps[1];
  const k = st.k.slice();
  const bias = new Float64Array(st.channels);
  for (let c = 0; c < st.channels; c++) {
    for (let j = c * per; j < (c + 1) * per; j++) k[j] *= a.scale[c];
    bias[c] = a.beta[c] + (st.bias[c] - a.mean[c]) * a.scale[c];
  }
  return { ...st, k, bias };
}

/** Taps after a step of `k` taps (pixel spacing `spacing`) on each axis: the new grid and how old and new taps land on it. */
function grow(st: State, kernel: Pair, dilation: Pair) {
  const taps: [number, number] = [1, 1];
  const dil: [number, number] = [1, 1];
  const stepAt: [number, number] = [1, 1];
  const oldAt: [number, number] = [1, 1];
  for (const a of [0, 1]) {
    if (kernel[a] === 1) {
      taps[a] = st.taps[a];
      dil[a] = st.dil[a];
      oldAt[a] = 1;
      stepAt[a] = 0;
    } else if (st.taps[a] === 1) {
      taps[a] = kernel[a];
      dil[a] = dilation[a] * st.stride[a];
      stepAt[a] = 1;
      oldAt[a] = 0;
    } else {
      // geometry.ts allows this only undilated, after stride 1.
      if (dilation[a] !== 1 || st.dil[a] !== 1 || st.stride[a] !== 1) throw new RangeError('spatial steps chain only undilated and after stride 1');
      taps[a] = st.taps[a] + kernel[a] - 1;
      stepAt[a] = 1;
      oldAt[a] = 1;
    }
  }
  return { taps, dil, stepAt, oldAt };
}

function convolved(st: State, s: Extract<ChainStep, { op: 'conv' }>, ipg: number): State {
  const [o, mpg, kh, kw] = s.shape;
  if (mpg * s.group !== st.channels) throw new RangeError(`a conv reading ${mpg * s.group} channels after ${st.channels}`);
  const opg = o / s.group;
  const { taps, dil, stepAt, oldAt } = grow(st, [kh, kw], s.dilation);
  const [th, tw] = st.taps;
  const per = ipg * taps[0] * taps[1];
  const k = new Float64Array(o * per);
  const bias = new Float64Array(o);
  const w = (oc: number, m: number, y: number, x: number): number => {
    const v = s.weight[((oc * mpg + m) * kh + y) * kw + x];
    return s.plusIdentity && m === oc % mpg && y === (kh - 1) / 2 && x === (kw - 1) / 2 ? v + 1 : v;
  };
  for (let oc = 0; oc < o; oc++) {
    const g = Math.floor(oc / opg);
    let b = s.bias ? s.bias[oc] : 0;
    for (let m = 0; m < mpg; m++) {
      const src = g * mpg + m;
      let wsum = 0;
      for (let y = 0; y < kh; y++) {
        for (let x = 0; x < kw; x++) {
          const wv = w(oc, m, y, x);
          if (wv === 0) continue;
          wsum += wv;
          for (let i = 0; i < ipg; i++) {
            for (let u = 0; u < th; u++) {
              const ny = y * stepAt[0] + u * oldAt[0];
              for (let v = 0; v < tw; v++) {
                const nx = x * stepAt[1] + v * oldAt[1];
                k[((oc * ipg + i) * taps[0] + ny) * taps[1] + nx] += wv * st.k[((src * ipg + i) * th + u) * tw + v];
              }
            }
          }
        }
      }
      b += wsum * st.bias[src];
    }
    bias[oc] = b;
  }
  return { channels: o, taps, dil, stride: [st.stride[0] * s.stride[0], st.stride[1] * s.stride[1]], k, bias };
}

function pooled(st: State, kernel: Pair, stride: Pair, ipg: number): State {
  const [kh, kw] = kernel;
  const { taps, dil, stepAt, oldAt } = grow(st, kernel, [1, 1]);
  const [th, tw] = st.taps;
  const per = ipg * taps[0] * taps[1];
  const k = new Float64Array(st.channels * per);
  const a = 1 / (kh * kw);
  for (let c = 0; c < st.channels; c++) {
    for (let i = 0; i < ipg; i++) {
      for (let y = 0; y < kh; y++) {
        for (let x = 0; x < kw; x++) {
          for (let u = 0; u < th; u++) {
            for (let v = 0; v < tw; v++) {
              k[((c * ipg + i) * taps[0] + y * stepAt[0] + u * oldAt[0]) * taps[1] + x * stepAt[1] + v * oldAt[1]] += a * st.k[((c * ipg + i) * th + u) * tw + v];
            }
          }
        }
      }
    }
  }
  return { channels: st.channels, taps, dil, stride: [st.stride[0] * stride[0], st.stride[1] * stride[1]], k, bias: st.bias };
}

/** A reduced branch as a kernel of the merged size, its taps `offset` taps in. */
export function placeKernel(r: Reduced, size: Pair, offset: Pair): Kernel {
  const [o, ipg, th, tw] = r.shape;
  const [kh, kw] = size;
  if (offset[0] + th > kh || offset[1] + tw > kw || offset[0] < 0 || offset[1] < 0) throw new RangeError(`a ${th}x${tw} kernel does not fit ${kh}x${kw} at [${offset}]`);
  const weight = new Float64Array(o * ipg * kh * kw);
  for (let a = 0; a < o * ipg; a++) {
    for (let y = 0; y < th; y++) {
      for (let x = 0; x < tw; x++) weight[(a * kh + y + offset[0]) * kw + x + offset[1]] = r.weight[(a * th + y) * tw + x];
    }
  }
  return { shape: [o, ipg, kh, kw], weight, bias: r.bias };
}
