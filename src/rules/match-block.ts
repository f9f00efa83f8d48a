// The ONNX reader of the block model: a linear region of the graph, described as a reparam Block.
//
// A site is a tree of binary Adds (any shape, any order) and the per-channel ops right after its root
// (a BatchNormalization, a Mul or Div by a per-channel constant: QARepVGG's BN after the sum). Each
// summand is a constant (the `+ 0` of a block without an identity branch) or a chain of linear steps
// walked back from the summand until the input all summands share: Conv, BatchNormalization, Mul / Div
// / Add / Sub by a per-channel constant, a zero Pad, a Slice of the spatial axes (a crop), an
// AveragePool, Identity, and the in-place border assignment DiverseBranchBlock's BNAndPad exports (a Pad
// followed by ScatterND writes of one value per channel on the border ring, whose indices come from
// Shape, Range, Expand, … of the padded map). A walk stops at a value read elsewhere, at a non-linear
// op, and before a spatial step that would precede another one (only a 1x1 may lead into a kxk).
//
// Constants folded from other constants (DiverseBranchBlock's `weight + identity` kernel, its border
// values) are parameters too; the nodes computing them belong to the site. Every value the site
// computes must be read only inside it, and a conv weight only by its conv. What a branch's border
// assignment writes must be what the steps before it give for a zero input, or it is not a zero pad of
// the input (checked on the values).
import { Graph, Node, Value } from '../ir/graph';
import { intAttr, intsAttr, stringAttr } from '../ir/attribute';
import { Block, Branch, Pads, Step } from '../reparam/block';
import { Check, accept, refuse } from '../reparam/check';
import { Geometry, validateBlock } from '../reparam/geometry';
import { BranchInfo, describeBranch } from '../reparam/kind';
import { biasBeforePads, checkSmallValues, prefixBias } from '../reparam/merge';
import { OnnxParam, bnStep, constParam, convStep, unshared } from './params';
import { blockPrefix } from './rewrite-helpers';
import { RuleContext } from './rule';

export interface Site {
  /** The root Add. */
  readonly root: Node;
  readonly adds: readonly Node[];
  readonly leaves: readonly Value[];
  /** Per-channel nodes after the root, in order; the site's output is the last one's. */
  readonly post: readonly Node[];
  readonly output: Value;
}

export interface OnnxBlock {
  readonly site: Site;
  readonly block: Block;
  readonly geometry: Geometry;
  readonly x: Value;
  /** Every node of the region, side computations included. */
  readonly nodes: ReadonlySet<Node>;
  /** Node-name prefix of the block ('/stage1.0/'); '' when unnamed. */
  readonly prefix: string;
  readonly convWeights: readonly Value[];
}

/** What a site is, whether or not it merges: for reports. */
export interface SiteReading {
  readonly verdict: Check<OnnxBlock>;
  readonly branches: readonly BranchInfo[];
  readonly x?: Value;
  readonly stride?: readonly number[];
  readonly group?: number;
  /** Common node-name prefix of the site's nodes. */
  readonly prefix: string;
  /** Whether the site looks like a block at all: a conv in some summand, or two summands that are not constants. */
  readonly blockLike: boolean;
}

const isOp = (n: Node | null | undefined, op: string): boolean => !!n && n.opType === op && n.domain === '';
const isAdd = (n: Node | null | undefined): n is Node => !!n && isOp(n, 'Add') && n.inputs.length === 2;

/** Ops that continue a chain: a shift before one of them belongs to the chain. */
const CHAIN_OPS = new Set(['Conv', 'Pad', 'Slice', 'AveragePool', 'ScatterND']);

/** Every Add tree, with the per-channel ops that follow its root. */
export function findSites(ctx: RuleContext): Site[] {
  const graph = ctx.graph;
  const sites: Site[] = [];
  const inner = (v: Value): Node | null => {
    const p = v.producer;
    return isAdd(p) && v.uses.length === 1 && !graph.isGraphOutput(v) ? p : null;
  };
  for (const n of graph.nodes) {
    if (!isAdd(n)) continue;
    const out = n.outputs[0];
    if (out.uses.length === 1 && isAdd(out.uses[0].node) && !graph.isGraphOutput(out)) continue; // not a root
    const adds: Node[] = [];
    const leaves: Value[] = [];
    const walk = (a: Node) => {
      adds.push(a);
      for (const v of a.inputs) {
        const i = v && inner(v);
        if (i) walk(i);
        else if (v) leaves.push(v);
      }
    };
    walk(n);
    // Arithmetic on constants and shapes (the indices of an in-place assignment) is no block.
    if (leaves.every((v) => ctx.folder.fold(v))) continue;
    // `y + c` inside a chain (a shift the next linear step reads) is a step of the region around it.
    const consts = leaves.filter((v) => perChannelConstant(ctx, v)).length;
    if (consts === leaves.length - 1 && out.uses.length === 1 && !graph.isGraphOutput(out) && CHAIN_OPS.has(out.uses[0].node.opType) && out.uses[0].node.domain === '') continue;
    const post: Node[] = [];
    let output = out;
    for (;;) {
      if (output.uses.length !== 1 || graph.isGraphOutput(output)) break;
      const next = output.uses[0].node;
      if (!perChannelAfter(ctx, next, output)) break;
      post.push(next);
      output = next.outputs[0];
    }
    sites.push({ root: n, adds, leaves, post, output });
  }
  return sites;
}

/** A node that applies a per-channel affine to `v`: an inference-mode BatchNormalization, or Mul / Div / Sub by a per-channel constant. */
function perChannelAfter(ctx: RuleContext, n: Node, v: Value): boolean {
  if (n.inputs[0] !== v) return n.opType === 'Mul' && n.domain === '' && n.inputs[1] === v && !!perChannelConstant(ctx, n.inputs[0]);
  if (isOp(n, 'BatchNormalization')) return intAttr(n.attributes, 'training_mode', 0) === 0 && n.outputs.slice(1).every((o) => o.uses.length === 0);
  return (isOp(n, 'Mul') || isOp(n, 'Div') || isOp(n, 'Sub')) && !!perChannelConstant(ctx, n.inputs[1]);
}

/** A float32 constant that broadcasts one value per channel over NCHW: [], [1], [C,1,1], [1,C,1,1]. */
function perChannelConstant(ctx: RuleContext, v: Value | null | undefined): OnnxParam | undefined {
  if (!v) return undefined;
  const p = constParam(v, 'constant', ctx.folder);
  if (!p.ok) return undefined;
  const s = p.plan.tensor.shape;
  const ok = s.reduce((a, b) => a * b, 1) === 1 || (s.length === 3 && s[1] === 1 && s[2] === 1) || (s.length === 4 && s[0] === 1 && s[2] === 1 && s[3] === 1);
  return ok ? p.plan : undefined;
}

interface Walk {
  readonly leaf: Value;
  /** Where the walk stopped: the input of the chain. */
  x: Value;
  /** In forward order. */
  steps: Step[];
  /** The data-path node of each step (Identity nodes are in `nodes` only). */
  stepNodes: Node[];
  readonly nodes: Set<Node>;
  readonly side: Set<Node>;
  readonly convWeights: Value[];
  /** Border values written by a BNAndPad-style assignment, to compare with what the steps before give. */
  readonly fills: { readonly step: Step; readonly values: Float64Array; readonly node: Node }[];
  problem?: string;
  label?: string;
}

/** Reads a site as a block: the verdict, and what the report shows of it either way. */
export function readSite(ctx: RuleContext, site: Site): SiteReading {
  const graph = ctx.graph;
  const branches: Branch[] = [];
  const walks: (Walk | undefined)[] = [];
  for (const v of site.leaves) {
    const c = perChannelConstant(ctx, v);
    if (c) {
      branches.push({ steps: [{ op: 'const', value: c }], label: `constant ${v.name}` });
      walks.push(undefined);
      continue;
    }
    const w = walkBack(ctx, v);
    walks.push(w);
    branches.push({ steps: w.steps, label: w.label });
  }
  const live = walks.filter((w): w is Walk => !!w);
  const withConv = live.filter((w) => w.steps.some((s) => s.op === 'conv'));
  const x0 = withConv[0]?.x;
  const infos: BranchInfo[] = branches.map((b, i) => {
    const w = walks[i];
    if (w && w.steps.length === 0 && w.x !== x0) return { kind: w.x.producer?.opType ?? (w.x.initializer ? 'constant' : 'input') };
    return describeBranch(b);
  });
  const allNodes = [...site.adds, ...site.post, ...live.flatMap((w) => [...w.nodes])];
  const prefix = blockPrefix(allNodes);
  const firstConv = withConv[0]?.steps.find((s) => s.op === 'conv');
  const reading = (verdict: Check<OnnxBlock>): SiteReading => ({
    verdict,
    branches: infos,
    x: x0,
    stride: firstConv?.op === 'conv' ? [...firstConv.stride] : undefined,
    group: firstConv?.op === 'conv' ? firstConv.group : undefined,
    prefix,
    blockLike: withConv.length > 0 || live.length >= 2,
  });

  const problem = live.find((w) => w.problem)?.problem;
  if (problem) return reading(refuse(problem));
  if (withConv.length === 0) {
    const from = site.leaves.map((v) => v.producer?.opType ?? (v.initializer ? 'constant' : 'input')).join(', ');
    return reading(refuse(`no summand is a Conv (summands come from ${from})`, { notABlock: true }));
  }
  // A lone chain beside constants starts at its first conv: per-channel steps before it are another layer's.
  if (live.length === 1) trimLeading(live[0]);
  const x = withConv[0].x;
  for (const w of live) {
    if (w.x !== x) return reading(refuse(`summand ${w.leaf.name} reads ${w.x.name}, not ${x.name}: it is not linear in the same input`));
  }
  const post: Step[] = [];
  let data = site.root.outputs[0];
  for (const n of site.post) {
    const s = postStep(ctx, n, data);
    if (typeof s === 'string') return reading(refuse(s));
    post.push(s);
    data = n.outputs[0];
  }
  const block: Block = { name: prefix.split('/').filter((p) => p).join('.') || site.output.name, branches, post };
  const g = validateBlock(block);
  if (!g.ok) return reading(g);

  // The region: every node it computes with, and nothing outside reads what it computes.
  const nodes = new Set<Node>([...site.adds, ...site.post]);
  for (const w of live) for (const n of [...w.nodes, ...w.side]) nodes.add(n);
  for (const [i, v] of site.leaves.entries()) if (!walks[i]) ctx.folder.cone(v, nodes);
  for (const n of site.post) for (const v of n.inputs) if (v && !nodes.has(v.producer!)) ctx.folder.cone(v, nodes);
  for (const n of nodes) {
    for (const o of n.outputs) {
      if (o === site.output) continue;
      const outside = o.uses.find((u) => !nodes.has(u.node));
      if (outside && !isSideOnly(n)) return reading(refuse(`${o.name} (from ${n.label}) is also read by ${outside.node.label}, outside the block`));
      if (graph.isGraphOutput(o) && !isSideOnly(n)) return reading(refuse(`${o.name} (from ${n.label}) is a graph output inside the block`));
    }
  }
  const convWeights = live.flatMap((w) => w.convWeights);
  for (const w of live) {
    for (const [k, s] of w.steps.entries()) {
      if (s.op !== 'conv') continue;
      const why = unshared(s.weight as OnnxParam, `${w.stepNodes[k].label}: weight`, nodes);
      if (why) return reading(refuse(why));
    }
  }
  // Values: BN statistics and biases are checked now (bad ones are the input's fault, exit 2).
  checkSmallValues(block, g.plan);
  for (const w of live) {
    for (const f of w.fills) {
      const at = w.steps.indexOf(f.step);
      const want = prefixBias(w.steps.slice(0, at), g.plan.channelsIn);
      const bad = want.findIndex((b, c) => !(Math.abs(b - f.values[c]) <= 1e-5 * Math.max(1, Math.abs(b))));
      if (bad >= 0) return reading(refuse(`${f.node.label} writes ${f.values[bad]} on the border of channel ${bad}, where the steps before give ${want[bad]} for a zero input: it is not a zero pad of the input`));
    }
  }
  for (const z of biasBeforePads(block, g.plan)) {
    // The values come from float32 exports: what is zero there may be a rounding away from it here.
    const bad = z.bias.findIndex((b) => !(Math.abs(b) <= 1e-5));
    if (bad >= 0) return reading(refuse(`${branches[z.branch].label ?? 'a branch'} zero-pads after steps that give ${z.bias[bad]} (channel ${bad}) for a zero input, so the padding is not the input's`));
  }
  return reading(accept({ site, block, geometry: g.plan, x, nodes, prefix, convWeights }));
}

/** Nodes computing constants or shapes only: they may be shared with the rest of the graph (cleanup removes them when dead). */
function isSideOnly(n: Node): boolean {
  return n.opType === 'Constant' || n.opType === 'Shape' || n.inputs.every((i) => !i || !!i.initializer || i.producer?.opType === 'Constant' || i.producer?.opType === 'Shape');
}

function postStep(ctx: RuleContext, n: Node, data: Value): Step | string {
  if (isOp(n, 'BatchNormalization')) {
    const b = bnStep(n, ctx.folder, ctx.options.defaultEpsilon);
    if (!b.ok) return b.reason;
    return b.plan.problem ?? b.plan.step;
  }
  const c = perChannelConstant(ctx, n.inputs[0] === data ? n.inputs[1] : n.inputs[0]);
  if (!c) return `${n.label} is not a per-channel scale`;
  if (n.opType === 'Mul') return { op: 'affine', scale: c };
  if (n.opType === 'Div') return { op: 'affine', scale: c, invert: { scale: true } };
  return { op: 'affine', shift: c, invert: { shift: true } };
}

function trimLeading(w: Walk): void {
  while (w.steps.length && (w.steps[0].op === 'bn' || w.steps[0].op === 'affine')) {
    const n = w.stepNodes[0];
    w.steps.shift();
    w.stepNodes.shift();
    w.nodes.delete(n);
    w.x = n.outputs[0];
  }
}

/** Follows a summand back through linear steps; see the header. */
function walkBack(ctx: RuleContext, leaf: Value): Walk {
  const graph = ctx.graph;
  const w: Walk = { leaf, x: leaf, steps: [], stepNodes: [], nodes: new Set(), side: new Set(), convWeights: [], fills: [] };
  const front = (s: Step, n: Node) => {
    w.steps.unshift(s);
    w.stepNodes.unshift(n);
    w.nodes.add(n);
  };
  let spatialAhead = false;
  let from: Node | undefined;
  for (let cur = leaf; ; ) {
    const p = cur.producer;
    if (!p || p.domain !== '') break;
    // A value inside the chain is read by the next step only (and by nodes that read only its shape).
    if (from) {
      const others = cur.uses.filter((u) => u.node !== from);
      if (graph.isGraphOutput(cur) || !others.every((u) => readsShapeOnly(graph, u.node, w.side))) break;
    }
    const next = stepOf(ctx, p, spatialAhead);
    if (!next) break;
    if (next.problem) w.problem ??= next.problem;
    w.x = next.input;
    for (const s of next.side ?? []) w.side.add(s);
    for (const n of next.extra ?? []) w.nodes.add(n);
    if (next.step) {
      front(next.step, p);
      if (next.step.op === 'conv') {
        w.convWeights.unshift((next.step.weight as OnnxParam).value);
        w.label ??= p.label;
        if (next.step.bias) ctx.folder.cone((next.step.bias as OnnxParam).value, w.side);
        ctx.folder.cone((next.step.weight as OnnxParam).value, w.side);
      } else w.label ??= w.steps.every((s) => s.op !== 'conv') ? p.label : w.label;
      if (next.fill) w.fills.push({ step: next.step, values: next.fill, node: p });
      if (next.spatial) spatialAhead = true;
    } else w.nodes.add(p);
    from = next.last ?? p;
    cur = next.input;
  }
  if (w.steps.some((s) => s.op === 'conv')) w.label = w.stepNodes[w.steps.findIndex((s) => s.op === 'conv')].label;
  w.label ??= w.steps.length ? w.stepNodes[0].label : `the skip of ${w.x.name}`;
  return w;
}

interface StepRead {
  /** Undefined for a node that passes its input through (Identity). */
  readonly step?: Step;
  readonly input: Value;
  readonly spatial?: boolean;
  readonly problem?: string;
  /** Nodes computing the step's constants. */
  readonly side?: Iterable<Node>;
  /** More data-path nodes of one step (the Pad under a border assignment). */
  readonly extra?: readonly Node[];
  /** The data-path node nearest x, whose output the walk checks next (for multi-node steps). */
  readonly last?: Node;
  readonly fill?: Float64Array;
}

/** The node as a linear step of the chain, or undefined when it is not one (the walk stops there). */
function stepOf(ctx: RuleContext, n: Node, spatialAhead: boolean): StepRead | undefined {
  const input = n.inputs[0];
  if (!input) return undefined;
  const folder = ctx.folder;
  switch (n.opType) {
    case 'Identity':
      return { input };
    case 'Conv': {
      const c = convStep(n, folder);
      // A constant weight the rule cannot take (float16, malformed) is a reason; a computed one ends the chain.
      if (!c.ok) return folder.tensor(n.inputs[1]) ? { input, problem: c.reason } : undefined;
      const s = c.plan.step;
      const k = c.plan.weight.tensor.shape;
      const spatial = k[2] > 1 || k[3] > 1;
      if (spatial && spatialAhead) return undefined;
      // DiverseBranchBlock's IdentityBasedConv1x1 exports its kernel as `weight + identity`, folded here.
      return { step: s, input, spatial };
    }
    case 'BatchNormalization': {
      const b = bnStep(n, folder, ctx.options.defaultEpsilon);
      if (!b.ok) return undefined;
      return { step: b.plan.step, input, problem: b.plan.problem, side: [...folder.cone(n.inputs[1]), ...folder.cone(n.inputs[2]), ...folder.cone(n.inputs[3]), ...folder.cone(n.inputs[4])] };
    }
    case 'Mul':
    case 'Div':
    case 'Add':
    case 'Sub': {
      const [a, b] = n.inputs;
      const firstConst = n.opType === 'Mul' || n.opType === 'Add' ? perChannelConstant(ctx, a) : undefined;
      const c = firstConst ?? perChannelConstant(ctx, b);
      const data = firstConst ? b : a;
      if (!c || !data || perChannelConstant(ctx, data)) return undefined;
      const side = folder.cone(c.value);
      if (n.opType === 'Mul') return { step: { op: 'affine', scale: c }, input: data, side };
      if (n.opType === 'Div') return { step: { op: 'affine', scale: c, invert: { scale: true } }, input: data, side };
      if (n.opType === 'Add') return { step: { op: 'affine', shift: c }, input: data, side };
      return { step: { op: 'affine', shift: c, invert: { shift: true } }, input: data, side };
    }
    case 'Pad': {
      const p = zeroPad(ctx, n);
      return p && { step: { op: 'pad', pads: p.pads, fill: 'zero' }, input, side: p.side };
    }
    case 'Slice': {
      const c = crop(ctx, n);
      return c && { step: { op: 'pad', pads: c.pads, fill: 'zero' }, input, side: c.side };
    }
    case 'AveragePool': {
      if (spatialAhead) return undefined;
      const kernel = intsAttr(n.attributes, 'kernel_shape');
      if (!kernel || kernel.length !== 2) return undefined;
      if (stringAttr(n.attributes, 'auto_pad', 'NOTSET') !== 'NOTSET' || intAttr(n.attributes, 'ceil_mode', 0) !== 0) return undefined;
      const pads = intsAttr(n.attributes, 'pads') ?? [0, 0, 0, 0];
      const strides = intsAttr(n.attributes, 'strides') ?? [1, 1];
      if (pads.length !== 4 || strides.length !== 2) return undefined;
      return {
        step: { op: 'avgpool', kernel: [kernel[0], kernel[1]], stride: [strides[0], strides[1]], pads: [pads[0], pads[1], pads[2], pads[3]], countIncludePad: intAttr(n.attributes, 'count_include_pad', 0) === 1 },
        input,
        spatial: kernel[0] > 1 || kernel[1] > 1,
      };
    }
    case 'ScatterND':
      return borderFill(ctx, n);
    default:
      return undefined;
  }
}

/**
 * Whether `n` reads only the shape of what it is given: a Shape node, or nodes (a Slice, say) whose
 * results reach nothing but Shape nodes, as exporters compute the shape of an assignment's target.
 * Adds them to `into`.
 */
function readsShapeOnly(graph: Graph, n: Node, into: Set<Node>, depth = 0): boolean {
  if (n.domain !== '') return false;
  if (n.opType === 'Shape') {
    into.add(n);
    return true;
  }
  if (depth > 3 || !['Slice', 'Identity', 'Reshape', 'Unsqueeze', 'Squeeze', 'Cast'].includes(n.opType)) return false;
  const seen = new Set<Node>();
  const ok = n.outputs.every((o) => !graph.isGraphOutput(o) && o.uses.every((u) => readsShapeOnly(graph, u.node, seen, depth + 1)));
  if (ok) [n, ...seen].forEach((x) => into.add(x));
  return ok;
}

/** Pads of the two spatial axes of a 4-D [N, C, H, W] value, from ONNX's [begins…, ends…]. */
function spatialPads(p: readonly number[]): Pads | undefined {
  if (p.length !== 8 || p[0] || p[1] || p[4] || p[5]) return undefined;
  return [p[2], p[3], p[6], p[7]];
}

/** A constant-mode Pad by constants, with zero (or no) fill value. */
function zeroPad(ctx: RuleContext, n: Node): { pads: Pads; side: Set<Node> } | undefined {
  if (stringAttr(n.attributes, 'mode', 'constant') !== 'constant') return undefined;
  const side = new Set<Node>();
  let pads: readonly number[] | undefined;
  let fill = 0;
  if (n.inputs.length > 1) {
    const f = ctx.folder.fold(n.inputs[1]);
    if (!f) return undefined;
    pads = Array.from(f.data);
    ctx.folder.cone(n.inputs[1], side);
    if (n.inputs[2]) {
      const v = ctx.folder.fold(n.inputs[2]);
      if (!v) return undefined;
      fill = v.data[0];
      ctx.folder.cone(n.inputs[2], side);
    }
    if (n.inputs[3]) return undefined; // axes
  } else {
    pads = intsAttr(n.attributes, 'pads');
    const v = n.attributes.get('value')?.value;
    fill = v?.type === 'float' ? v.value : 0;
  }
  const p = pads && spatialPads(pads);
  return p && fill === 0 ? { pads: p, side } : undefined;
}

/** A Slice of the spatial axes by constants with step 1 that keeps everything but a border: a crop. */
function crop(ctx: RuleContext, n: Node): { pads: Pads; side: Set<Node> } | undefined {
  const side = new Set<Node>();
  const get = (i: number, attr: string): number[] | undefined | null => {
    const a = intsAttr(n.attributes, attr);
    if (a) return [...a];
    if (!n.inputs[i]) return undefined;
    const f = ctx.folder.fold(n.inputs[i]);
    if (!f) return null;
    ctx.folder.cone(n.inputs[i], side);
    return Array.from(f.data);
  };
  const starts = get(1, 'starts');
  const ends = get(2, 'ends');
  const axes = get(3, 'axes');
  const steps = get(4, 'steps');
  if (!starts || !ends || axes === null || steps === null) return undefined;
  const pads = [0, 0, 0, 0];
  const ax = axes ?? starts.map((_, i) => i);
  for (let k = 0; k < ax.length; k++) {
    const a = ax[k] < 0 ? ax[k] + 4 : ax[k];
    if ((steps?.[k] ?? 1) !== 1) return undefined;
    const s = starts[k];
    const e = ends[k];
    const keepsEnd = e >= 2 ** 31 - 1;
    if (a === 0 || a === 1) {
      if (s === 0 && keepsEnd) continue;
      return undefined;
    }
    if (a !== 2 && a !== 3) return undefined;
    if (s < 0 || (!keepsEnd && e >= 0)) return undefined;
    pads[a - 2] = -s;
    pads[a] = keepsEnd ? 0 : e;
  }
  return { pads: [pads[0], pads[1], pads[2], pads[3]], side };
}

/**
 * A zero Pad followed by ScatterND writes that set the whole border ring the Pad added to one value per
 * channel (an in-place `out[:, :, :p, :] = v` and so on): a pad with those values. The indices and
 * values must fold to constants, which needs the map's size to be fixed.
 */
function borderFill(ctx: RuleContext, last: Node): StepRead | undefined {
  const scatters: Node[] = [];
  let cur: Node | undefined = last;
  const side = new Set<Node>();
  while (cur && isOp(cur, 'ScatterND')) {
    if (stringAttr(cur.attributes, 'reduction', 'none') !== 'none') return undefined;
    scatters.unshift(cur);
    const data: Value | null = cur.inputs[0];
    if (!data) return undefined;
    const next: Node | null = data.producer;
    const others = data.uses.filter((u) => u.node !== cur);
    if (!others.every((u) => readsShapeOnly(ctx.graph, u.node, side))) return undefined;
    cur = next ?? undefined;
  }
  if (!cur || !isOp(cur, 'Pad')) return undefined;
  const pad = zeroPad(ctx, cur);
  if (!pad || pad.pads.some((p) => p < 0)) return undefined;
  pad.side.forEach((n) => side.add(n));
  const shape = ctx.shapeOf(cur.outputs[0]);
  if (!shape || shape.length !== 4) {
    return { input: cur.inputs[0]!, problem: `${last.label} writes the border of a map whose size is not fixed: export the model with a fixed input size` };
  }
  const [, channels, hp, wp] = shape;
  const [pt, pl, pb, pr] = pad.pads;
  const ring = (y: number, x: number) => y < pt || y >= hp - pb || x < pl || x >= wp - pr;
  // Every write of a channel holds one value, and together they cover the ring (a byte a position).
  const seen = new Uint8Array(channels * hp * wp);
  const covered = new Float64Array(channels);
  const values = new Float64Array(channels).fill(NaN);
  for (const s of scatters) {
    const idx = ctx.folder.fold(s.inputs[1]);
    const upd = ctx.folder.fold(s.inputs[2]);
    if (!idx || !upd || idx.dims[idx.dims.length - 1] !== 4 || upd.data.length * 4 !== idx.data.length) return undefined;
    ctx.folder.cone(s.inputs[1], side);
    ctx.folder.cone(s.inputs[2], side);
    for (let k = 0; k < upd.data.length; k++) {
      const [n, c, y, x] = [idx.data[4 * k], idx.data[4 * k + 1], idx.data[4 * k + 2], idx.data[4 * k + 3]];
      if (n < 0 || n >= shape[0] || c < 0 || c >= channels || y < 0 || y >= hp || x < 0 || x >= wp) return undefined;
      if (!ring(y, x)) return undefined;
      const v = upd.data[k];
      if (Number.isNaN(values[c])) values[c] = v;
      else if (values[c] !== v) return undefined;
      const at = (c * hp + y) * wp + x;
      if (n === 0 && !seen[at]) {
        seen[at] = 1;
        covered[c]++;
      }
    }
  }
  const ringSize = hp * wp - (hp - pt - pb) * (wp - pl - pr);
  if (covered.some((n) => n !== ringSize)) return undefined;
  return {
    step: { op: 'pad', pads: pad.pads, fill: 'prefix' },
    input: cur.inputs[0]!,
    side,
    extra: [cur, ...scatters.slice(0, -1)],
    last: cur,
    fill: values,
  };
}
