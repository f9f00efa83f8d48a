// The block validator: which windows of x each branch reads, and whether the branches read the same
// window per output position so that their sum is one conv. Shapes only; values are checked as they
// are read (values.ts).
//
// Per spatial axis a value computed from x is described by its window: output j reads x at
//   j·S − B, j·S − B + d, …, j·S − B + d·(taps − 1)        (span = d·(taps − 1) + 1)
// with x zero-padded by B before and E after, so the map has floor((H + B + E − span) / S) + 1 positions.
// A step with kernel k, stride s, dilation δ and pads (b, e) maps the window (S, B, taps, d, E) to
//   k = 1:  (S·s, B + b·S, taps, d, E + e·S)
//   k > 1:  (s, B + b, taps + k − 1 (or k when taps = 1), δ or 1, E + e)   — needs S = 1
// (composing two spatial steps needs undilated kernels). A pad is exact only where it stands for
// padding x: the positions it adds must read nothing but x's own padding (S = 1 and span − 1 ≤ B,
// resp. ≤ E), and they must hold what the steps before give for a zero input: 0 ('zero' fill, so the
// steps before must add no bias; checked on the values when they may) or that value itself ('prefix').
// Negative pads crop: only the offsets move.
//
// Branches sum into one conv when their strides agree and their maps have the same size for every H
// (equal B + E − span); the merged conv pads x by B* = max B, each branch's kernel sits B* − B pixels
// in, and kernels with taps > 1 share one dilation, on whose grid every offset must fall.
import { Block, Branch, ConvStep, Pads, Pair, Step, isConst, isPerChannel } from './block';
import { Check, accept, refuse } from './check';

/** How one branch's kernel sits in the merged one. */
export interface Placement {
  /** 'const': adds its value to the bias; 'simple': one conv, then per-channel steps (or only those), centred;
   * 'composite': any other chain, reduced to an explicit kernel (math/compose.ts). */
  readonly form: 'const' | 'simple' | 'composite';
  /** Taps of the branch's own kernel, and its offset (in taps) inside the merged one. */
  readonly taps: Pair;
  readonly offset: Pair;
  /** Steps (indices) that zero-pad after steps that may add a bias: what comes before them must give 0 for a zero input. */
  readonly zeroBefore: readonly number[];
}

export interface Geometry {
  readonly channelsIn: number;
  readonly channelsOut: number;
  readonly group: number;
  /** The merged conv. */
  readonly kernel: Pair;
  readonly stride: Pair;
  readonly dilation: Pair;
  readonly pads: Pads;
  readonly branches: readonly Placement[];
}

interface Window {
  readonly s: number;
  readonly b: number;
  readonly taps: number;
  readonly d: number;
  readonly e: number;
}

const POINT: Window = { s: 1, b: 0, taps: 1, d: 1, e: 0 };
const span = (w: Window): number => w.d * (w.taps - 1) + 1;

/** What a branch reads and gives, after walking its steps. */
interface Walked {
  readonly label: string;
  readonly cin?: number;
  readonly cout?: number;
  readonly win: readonly [Window, Window];
  readonly convs: readonly ConvStep[];
  readonly zeroBefore: readonly number[];
}

export function branchLabel(b: Branch, i: number): string {
  return b.label ?? `branch ${i + 1}`;
}

/** Shapes and geometry of a block: the merged conv, or why the branches do not sum into one. */
export function validateBlock(block: Block): Check<Geometry> {
  const walked: Walked[] = [];
  const consts: number[] = [];
  for (const [i, b] of block.branches.entries()) {
    if (isConst(b)) {
      consts.push(i);
      continue;
    }
    const w = walkBranch(b, branchLabel(b, i));
    if (typeof w === 'string') return refuse(w);
    walked.push(w);
  }
  if (walked.length === 0) return refuse('no branch depends on the input', { notABlock: true });
  const withConv = walked.filter((w) => w.convs.length > 0);
  if (withConv.length === 0) return refuse(`no branch has a conv (branches: ${walked.map((w) => w.label).join(', ')})`, { notABlock: true });

  // Channels in and out, groups.
  const first = withConv[0];
  const cin = first.cin!;
  const cout = first.cout!;
  const group = first.convs[0].group;
  for (const w of walked) {
    if (w.cin !== undefined && w.cin !== cin) return refuse(`${w.label} reads ${w.cin} channels, ${first.label} reads ${cin}`);
    const out = w.cout ?? w.cin ?? cin;
    if (out !== cout) return refuse(`${w.label} gives ${out} channels, ${first.label} gives ${cout}`);
    if (w.convs.length === 0 && cin !== cout) return refuse(`${w.label}: an identity branch needs as many input as output channels (${cin}→${cout})`);
    for (const c of w.convs) if (c.group !== group) return refuse(`${w.label} has group ${c.group}, ${first.label} has ${group}`);
  }
  if (cin % group || cout % group) return refuse(`${cin}→${cout} channels do not split into ${group} groups`);

  // Strides agree, and every branch's map has the same size.
  const ref = first.win;
  for (const w of walked) {
    const s = [w.win[0].s, w.win[1].s];
    if (s[0] !== ref[0].s || s[1] !== ref[1].s) {
      return refuse(w.convs.length ? `${w.label} has strides [${s}], ${first.label} has [${ref[0].s},${ref[1].s}]` : `${w.label}: an identity branch cannot sit beside strided convs (strides [${ref[0].s},${ref[1].s}])`);
    }
  }
  for (const w of walked) {
    for (const a of [0, 1]) {
      const delta = (x: Window) => x.b + x.e - span(x);
      if (delta(w.win[a]) !== delta(ref[a])) {
        return refuse(`${w.label} reads x with pads [${w.win[0].b},${w.win[1].b},${w.win[0].e},${w.win[1].e}] over a ${span(w.win[0])}x${span(w.win[1])} window, ${first.label} with [${ref[0].b},${ref[1].b},${ref[0].e},${ref[1].e}] over ${span(ref[0])}x${span(ref[1])}: their maps differ in size, so x does not line up`);
      }
    }
  }

  // Dilation: branches with more than one tap on an axis share one.
  const dilation: number[] = [1, 1];
  for (const a of [0, 1]) {
    const spatial = walked.filter((w) => w.win[a].taps > 1);
    if (spatial.length === 0) continue;
    const d0 = spatial[0].win[a].d;
    for (const w of spatial) {
      if (w.win[a].d !== d0) {
        const da = [w.win[0].d, w.win[1].d];
        const d1 = [spatial[0].win[0].d, spatial[0].win[1].d];
        return refuse(`${w.label} has dilations [${da}], ${spatial[0].label} has [${d1}]`);
      }
    }
    dilation[a] = d0;
  }

  // The merged window and each branch's place in it.
  const begin = [0, 1].map((a) => Math.max(...walked.map((w) => w.win[a].b)));
  const total = [0, 1].map((a) => Math.max(...walked.map((w) => begin[a] - w.win[a].b + span(w.win[a]))));
  const taps: number[] = [0, 0];
  const end: number[] = [0, 0];
  for (const a of [0, 1]) {
    if ((total[a] - 1) % dilation[a]) return refuse(`the branches' windows do not fit one kernel of dilation ${dilation[a]}`);
    taps[a] = (total[a] - 1) / dilation[a] + 1;
    end[a] = ref[a].b + ref[a].e - span(ref[a]) - begin[a] + total[a];
    if (begin[a] < 0 || end[a] < 0) return refuse(`every branch crops x (the merged conv would need pads [${begin[0]},${begin[1]},${end[0]},${end[1]}])`);
  }
  const placements = new Map<Walked, Placement>();
  for (const [wi, w] of walked.entries()) {
    const offset: number[] = [0, 0];
    for (const a of [0, 1]) {
      const px = begin[a] - w.win[a].b;
      if (px % dilation[a]) return refuse(`${w.label} sits ${px} pixels into the merged window, off the dilation-${dilation[a]} grid`);
      offset[a] = px / dilation[a];
    }
    const branch = block.branches.filter((b) => !isConst(b))[wi];
    const own: Pair = [w.win[0].taps, w.win[1].taps];
    const centred = [0, 1].every((a) => 2 * offset[a] === taps[a] - own[a]);
    placements.set(w, { form: centred && isSimple(branch, dilation) ? 'simple' : 'composite', taps: own, offset: [offset[0], offset[1]], zeroBefore: w.zeroBefore });
  }

  // Constants and the steps after the sum work per channel.
  for (const i of consts) {
    const v = (block.branches[i].steps[0] as Extract<Step, { op: 'const' }>).value;
    const why = perChannelShape(v.tensor.shape, cout);
    if (why) return refuse(`constant summand ${v.name} ${why}`);
  }
  for (const s of block.post) {
    if (!isPerChannel(s)) return refuse(`a ${s.op} step after the sum is not per channel`);
    const why = perChannelStep(s, cout);
    if (why) return refuse(`after the sum: ${why}`);
  }

  let next = 0;
  const branches = block.branches.map((b): Placement => (isConst(b) ? { form: 'const', taps: [1, 1], offset: [0, 0], zeroBefore: [] } : placements.get(walked[next++])!));
  return accept({
    channelsIn: cin,
    channelsOut: cout,
    group,
    kernel: [taps[0], taps[1]],
    stride: [ref[0].s, ref[1].s],
    dilation: [dilation[0], dilation[1]],
    pads: [begin[0], begin[1], end[0], end[1]],
    branches,
  });
}

/** One conv followed by per-channel steps, or per-channel steps only: math/kernel.ts merges these as they are. */
function isSimple(b: Branch, dilation: readonly number[]): boolean {
  const convs = b.steps.filter((s) => s.op === 'conv') as ConvStep[];
  if (convs.length > 1 || b.steps.some((s) => s.op === 'pad' || s.op === 'avgpool')) return false;
  if (convs.length === 0) return true;
  const c = convs[0];
  if (b.steps[0] !== c || c.plusIdentity) return false;
  const shape = c.weight.tensor.shape;
  // A 1-tap axis reads the same pixel at any dilation.
  return [0, 1].every((a) => shape[2 + a] === 1 || c.dilation[a] === dilation[a]);
}

function walkBranch(b: Branch, label: string): Walked | string {
  let win: [Window, Window] = [POINT, POINT];
  let cin: number | undefined;
  let c: number | undefined;
  let biased = false;
  const convs: ConvStep[] = [];
  const zeroBefore: number[] = [];
  /** Channels seen so far: the first step that knows them fixes x's. */
  const meet = (n: number, what: string): string | undefined => {
    if (c === undefined) {
      c = n;
      cin ??= n;
      return undefined;
    }
    return n === c ? undefined : `${what} has ${n} channels where ${c} arrive`;
  };
  /** A zero pad of the window: exact only over x's own padding, and only if the steps before give 0 for 0. */
  const pad = (pads: Pads, fill: 'zero' | 'prefix', at: number, what: string): string | undefined => {
    for (const a of [0, 1]) {
      const w = win[a];
      for (const [p, room] of [[pads[a], w.b], [pads[a + 2], w.e]]) {
        if (p <= 0) continue;
        if (w.s !== 1 || span(w) - 1 > room) return `${what} pads a map whose border already reads inside x, so it is not padding x`;
      }
    }
    if (fill === 'zero' && biased && pads.some((p) => p > 0)) zeroBefore.push(at);
    return undefined;
  };
  const through = (k: Pair, s: Pair, d: Pair, pads: Pads, what: string): string | undefined => {
    const next: Window[] = [];
    for (const a of [0, 1]) {
      const w = win[a];
      const [b0, e0] = [pads[a], pads[a + 2]];
      if (k[a] === 1) next.push({ s: w.s * s[a], b: w.b + b0 * w.s, taps: w.taps, d: w.d, e: w.e + e0 * w.s });
      else if (w.s !== 1) return `${what} follows a strided step`;
      else if (w.taps === 1) next.push({ s: s[a], b: w.b + b0, taps: k[a], d: d[a], e: w.e + e0 });
      else if (w.d !== 1 || d[a] !== 1) return `${what}: dilated kernels do not chain into one`;
      else next.push({ s: s[a], b: w.b + b0, taps: w.taps + k[a] - 1, d: 1, e: w.e + e0 });
    }
    win = [next[0], next[1]];
    return undefined;
  };

  for (const [i, s] of b.steps.entries()) {
    let why: string | undefined;
    switch (s.op) {
      case 'const':
        return `${label}: a constant stands alone in its branch`;
      case 'conv': {
        const shape = s.weight.tensor.shape;
        if (shape.length !== 4) return `${label}: ${s.weight.name} is a ${shape.length - 2}-D conv weight; only 2-D convs are merged`;
        const [o, ipg, kh, kw] = shape;
        const bad = convProblem(s.weight, s.group, s.bias);
        if (bad) return `${label}: ${bad}`;
        if (s.plusIdentity && o !== ipg * s.group) return `${label}: ${s.weight.name} adds the identity but maps ${ipg * s.group}→${o} channels`;
        if (s.pads.some((p) => p < 0) || s.stride.some((x) => x < 1) || s.dilation.some((x) => x < 1)) return `${label}: ${s.weight.name} has pads [${s.pads}], strides [${s.stride}], dilations [${s.dilation}]`;
        why = meet(ipg * s.group, s.weight.name) ?? pad(s.pads, 'zero', i, s.weight.name) ?? through([kh, kw], s.stride, s.dilation, s.pads, s.weight.name);
        c = o;
        biased ||= !!s.bias;
        convs.push(s);
        break;
      }
      case 'bn':
      case 'affine': {
        const n = perChannelLength(s);
        if (typeof n === 'string') return `${label}: ${n}`;
        if (n > 1) why = meet(n, s.op === 'bn' ? `BatchNorm ${s.mean.name}` : `${(s.scale ?? s.shift)!.name}`);
        biased ||= s.op === 'bn' || !!s.shift;
        break;
      }
      case 'pad':
        why = pad(s.pads, s.fill, i, `a pad in ${label}`) ?? through([1, 1], [1, 1], [1, 1], s.pads, `a pad in ${label}`);
        break;
      case 'avgpool':
        if (!s.countIncludePad && s.pads.some((p) => p > 0)) return `${label}: an average pool whose padding does not count divides border windows by fewer taps, so it is not a conv`;
        why = pad(s.pads, 'zero', i, `the average pool in ${label}`) ?? through(s.kernel, s.stride, [1, 1], s.pads, `the average pool in ${label}`);
        break;
    }
    if (why) return `${label}: ${why}`;
  }
  return { label, cin, cout: c, win, convs, zeroBefore };
}

/** A parameter, or only its name and shape (a graph input's declared dims). */
export type Shaped = { readonly name: string; readonly tensor: { readonly shape: readonly number[] } };

/**
 * Why a conv with this weight ([out, in / group, k…], any rank), group and bias is malformed, so that it
 * cannot run anywhere (the block validator and the check of a whole ONNX graph both ask this).
 */
export function convProblem(weight: Shaped, group: number, bias?: Shaped): string | undefined {
  const shape = weight.tensor.shape;
  if (shape.length < 3 || shape.some((d) => d < 1)) return `weight ${weight.name} has shape [${shape}]; a conv weight is [out, in/group, kernel…] with no empty dimension`;
  if (!(Number.isSafeInteger(group) && group >= 1) || shape[0] % group) return `${shape[0]} output channels do not split into ${group} groups`;
  if (bias && (bias.tensor.shape.length !== 1 || bias.tensor.shape[0] !== shape[0])) return `bias ${bias.name} has shape [${bias.tensor.shape}], not [${shape[0]}]`;
  return undefined;
}

/** The channel count a per-channel step fixes (1 when it broadcasts one value), or why it is not per channel. */
function perChannelLength(s: Step): number | string {
  const shapes = s.op === 'bn' ? [s.gamma, s.beta, s.mean, s.variance] : s.op === 'affine' ? [s.scale, s.shift] : [];
  let n = 1;
  for (const p of shapes) {
    if (!p) continue;
    const sh = p.tensor.shape;
    const len = sh.reduce((a, b) => a * b, 1);
    if (s.op === 'bn' ? sh.length !== 1 : perChannelShape(sh, len) !== undefined) return `${p.name} has shape [${sh}], not one value per channel`;
    if (len !== 1) {
      if (n !== 1 && len !== n) return `${p.name} has ${len} values where the step's other parameters have ${n}`;
      n = len;
    }
  }
  return n;
}

function perChannelStep(s: Step, channels: number): string | undefined {
  const n = perChannelLength(s);
  if (typeof n === 'string') return n;
  return n === 1 || n === channels ? undefined : `${n} values for ${channels} channels`;
}

/** Shapes that broadcast one value per channel over NCHW: [], [1], [C], [C,1,1], [1,C,1,1] (C may be 1). */
function perChannelShape(shape: readonly number[], channels: number): string | undefined {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n !== 1 && n !== channels) return `has ${n} values for ${channels} channels`;
  const ok =
    shape.length <= 1 ||
    (shape.length === 3 && shape[1] === 1 && shape[2] === 1) ||
    (shape.length === 4 && shape[0] === 1 && shape[2] === 1 && shape[3] === 1);
  return ok ? undefined : `has shape [${shape}], which is not one value per channel`;
}
