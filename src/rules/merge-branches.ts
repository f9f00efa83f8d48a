// merge-branches: an Add tree whose every summand is a linear function of one tensor X becomes one Conv.
//
// Pattern: a tree of binary Adds (any shape, any order) whose leaves are each
//   Conv(X) [+ bias]  ·  BatchNormalization(Conv(X))  ·  BatchNormalization(X)  ·  X itself.
// Check: every conv has the same strides, dilations and group; each kernel centres inside the largest
//   (KH - kh and KW - kw even) with "same"-style pads, i.e. pad_begin + d*(K - k)/2 is equal for all
//   convs (likewise pad_end), so all branches read the same input window per output position.
//   BN and identity leaves need in == out channels, stride 1 and pads of d*(K-1)/2 (the centre tap
//   sits on the output pixel). Every parameter is a float32 constant read only inside the match.
// Rewrite (math in math/kernel.ts): W = sum_b pad_K(W_b * s_b), bias = sum_b (beta_b + (c_b - mu_b) * s_b),
//   with s_b = gamma_b / sqrt(var_b + eps_b) (s = 1, beta = mu = 0 for a leaf without BN), and the
//   identity as the kernel with 1 at [i, i mod (C/groups), K/2, K/2].
// The new Conv takes over the root Add's output value, so names downstream and graph outputs are kept.
import { Graph, Node, Value } from '../ir/graph';
import { UserError } from '../errors';
import { Branch, ROWS_GIVEN, mergeBranches, rowMerge } from '../math/kernel';
import { ownedFloat32 } from '../formats/owned-floats';
import { printable } from '../formats/printable';
import { toFloat32 } from '../tensor';
import { BnInfo, ConvInfo, assertFinite, bnInfo, convInfo } from './params';
import { Check, Rule, refuse } from './rule';
import { blockPrefix, conv2dAttributes, lazyKernelTensors, paramBaseName, rowRange } from './rewrite-helpers';


interface AddTree {
  readonly root: Node;
  readonly adds: readonly Node[];
  readonly leaves: readonly Value[];
}

type Leaf =
  | { readonly kind: 'conv'; readonly conv: ConvInfo; readonly bn?: BnInfo }
  | { readonly kind: 'bn'; readonly bn: BnInfo }
  | { readonly kind: 'identity'; readonly value: Value };

interface Plan {
  readonly tree: AddTree;
  readonly x: Value;
  readonly leaves: readonly Leaf[];
  readonly kernel: readonly [number, number];
  readonly pads: readonly [number, number, number, number];
  readonly strides: readonly [number, number];
  readonly dilations: readonly [number, number];
  readonly group: number;
  readonly channelsIn: number;
  readonly channelsOut: number;
  readonly matched: ReadonlySet<Node>;
}

const isAdd = (n: Node | null): n is Node => !!n && n.opType === 'Add' && n.domain === '' && n.inputs.length === 2;

function innerAdd(graph: Graph, v: Value): Node | null {
  const p = v.producer;
  return isAdd(p) && v.uses.length === 1 && !graph.isGraphOutput(v) ? p : null;
}

export const mergeBranchesRule: Rule<AddTree, Plan> = {
  name: 'merge-branches',
  description: 'merge parallel Conv/BN/identity branches summed by Adds into one Conv',

  find(graph) {
    const trees: AddTree[] = [];
    for (const n of graph.nodes) {
      if (!isAdd(n)) continue;
      const out = n.outputs[0];
      if (out.uses.length === 1 && isAdd(out.uses[0].node) && !graph.isGraphOutput(out)) continue; // not a root
      const adds: Node[] = [];
      const leaves: Value[] = [];
      const walk = (a: Node) => {
        adds.push(a);
        for (const v of a.inputs) {
          const inner = v && innerAdd(graph, v);
          if (inner) walk(inner);
          else if (v) leaves.push(v);
        }
      };
      walk(n);
      trees.push({ root: n, adds, leaves });
    }
    return trees;
  },

  alive: (graph, t) => t.adds.every((a) => a.graph === graph),
  where: (t) => t.root.label,

  check(graph, tree, options): Check<Plan> {
    const matched = new Set<Node>(tree.adds);
    // First pass: find each leaf's producers so that "inside the match" is known before params are read.
    const shapes: { value: Value; conv?: Node; bn?: Node }[] = tree.leaves.map((v) => {
      const p = v.producer;
      const single = v.uses.length === 1 && !graph.isGraphOutput(v);
      if (single && p?.opType === 'BatchNormalization' && p.domain === '') {
        const y = p.inputs[0];
        const q = y?.producer;
        if (y && q?.opType === 'Conv' && q.domain === '' && y.uses.length === 1 && !graph.isGraphOutput(y)) return { value: v, conv: q, bn: p };
        return { value: v, bn: p };
      }
      if (single && p?.opType === 'Conv' && p.domain === '') return { value: v, conv: p };
      return { value: v };
    });
    for (const s of shapes) {
      if (s.conv) matched.add(s.conv);
      if (s.bn) matched.add(s.bn);
    }
    const firstConv = shapes.find((s) => s.conv)?.conv;
    if (!firstConv) {
      const from = tree.leaves.map((v) => v.producer?.opType ?? 'input').join(', ');
      return refuse(`no summand is a Conv (summands come from ${from})`);
    }
    const x = firstConv.inputs[0];
    if (!x) return refuse(`${firstConv.label} has no data input`);
    // Constant nodes feeding parameters belong to the match too.
    for (const n of [...matched]) for (const v of n.inputs.slice(1)) if (v?.producer?.opType === 'Constant') matched.add(v.producer);

    const leaves: Leaf[] = [];
    for (const s of shapes) {
      if (s.conv) {
        const c = convInfo(s.conv, matched);
        if (!c.ok) return c;
        if (c.plan.x !== x) return refuse(`summand ${s.value.name} reads ${c.plan.x.name}, not ${x.name}: it is not linear in the same input`);
        let bn: BnInfo | undefined;
        if (s.bn) {
          const b = bnInfo(s.bn, matched, options);
          if (!b.ok) return b;
          bn = b.plan;
        }
        leaves.push({ kind: 'conv', conv: c.plan, bn });
      } else if (s.bn) {
        const b = bnInfo(s.bn, matched, options);
        if (!b.ok) return b;
        if (b.plan.x !== x) return refuse(`summand ${s.value.name} is a BatchNormalization of ${b.plan.x.name}, not of ${x.name}`);
        leaves.push({ kind: 'bn', bn: b.plan });
      } else {
        if (s.value !== x) return refuse(`summand ${s.value.name} comes from ${s.value.producer?.label ?? 'a graph input'}, which is not linear in ${x.name}`);
        leaves.push({ kind: 'identity', value: x });
      }
    }

    const convs = leaves.flatMap((l) => (l.kind === 'conv' ? [l.conv] : []));
    const c0 = convs[0];
    for (const c of convs) {
      if (c.group !== c0.group) return refuse(`${c.node.label} has group ${c.group}, ${c0.node.label} has ${c0.group}`);
      if (c.strides.some((s, i) => s !== c0.strides[i])) return refuse(`${c.node.label} has strides [${c.strides}], ${c0.node.label} has [${c0.strides}]`);
      if (c.dilations.some((d, i) => d !== c0.dilations[i])) return refuse(`${c.node.label} has dilations [${c.dilations}], ${c0.node.label} has [${c0.dilations}]`);
      if (c.shape[0] !== c0.shape[0] || c.shape[1] !== c0.shape[1]) return refuse(`${c.node.label} maps ${c.shape[1] * c.group}→${c.shape[0]} channels, ${c0.node.label} maps ${c0.shape[1] * c0.group}→${c0.shape[0]}`);
    }
    const kh = Math.max(...convs.map((c) => c.shape[2]));
    const kw = Math.max(...convs.map((c) => c.shape[3]));
    const [dh, dw] = c0.dilations;
    // Pads of the merged conv, as seen from each branch once its kernel is centred in kh x kw.
    let pads: [number, number, number, number] | undefined;
    for (const c of convs) {
      const oy = kh - c.shape[2];
      const ox = kw - c.shape[3];
      if (oy % 2 || ox % 2) return refuse(`${c.node.label}: a ${c.shape[2]}x${c.shape[3]} kernel cannot be centred in ${kh}x${kw}`);
      const p: [number, number, number, number] = [c.pads[0] + (dh * oy) / 2, c.pads[1] + (dw * ox) / 2, c.pads[2] + (dh * oy) / 2, c.pads[3] + (dw * ox) / 2];
      if (!pads) pads = p;
      else if (p.some((q, i) => q !== pads![i])) return refuse(`${c.node.label}: pads [${c.pads}] do not align with the other branches (a centred ${kh}x${kw} kernel would need [${pads}])`);
    }
    const channelsOut = c0.shape[0];
    const channelsIn = c0.shape[1] * c0.group;
    for (const l of leaves) {
      if (l.kind === 'conv') continue;
      const what = l.kind === 'bn' ? l.bn.node.label : `the skip of ${x.name}`;
      if (channelsIn !== channelsOut) return refuse(`${what}: an identity branch needs as many input as output channels (${channelsIn}→${channelsOut})`);
      if (l.kind === 'bn' && l.bn.channels !== channelsOut) return refuse(`${what} has ${l.bn.channels} channels, the convs produce ${channelsOut}`);
      if (c0.strides.some((s) => s !== 1)) return refuse(`${what}: an identity branch cannot sit beside strided convs (strides [${c0.strides}])`);
      const centre = [(dh * (kh - 1)) / 2, (dw * (kw - 1)) / 2];
      if (pads![0] !== centre[0] || pads![2] !== centre[0] || pads![1] !== centre[1] || pads![3] !== centre[1]) return refuse(`${what}: the convs' pads [${pads}] do not keep the spatial size, so x does not line up`);
    }
    if (leaves.length < 2) return refuse('fewer than two branches');
    return {
      ok: true,
      plan: { tree, x, leaves, kernel: [kh, kw], pads: pads!, strides: c0.strides, dilations: c0.dilations, group: c0.group, channelsIn, channelsOut, matched },
    };
  },

  rewrite(graph, plan) {
    const { tree, leaves } = plan;
    const convLeaves = leaves.flatMap((l) => (l.kind === 'conv' ? [l.conv] : []));
    const prefix = blockPrefix([...plan.matched].filter((n) => n.opType !== 'Add' && n.opType !== 'Constant'));
    const base = paramBaseName(convLeaves.map((c) => c.weight.value.name), prefix, 'rbr_reparam');
    const geometry = { channelsIn: plan.channelsIn, channelsOut: plan.channelsOut, groups: plan.group };
    const isFull = (c: ConvInfo) => c.shape[2] === plan.kernel[0] && c.shape[3] === plan.kernel[1];
    const fullLeaves = convLeaves.filter(isFull);
    // `weightOf` gives each conv's weights; the bias and BN parameters are small and read here.
    const branchesWith = (weightOf: (c: ConvInfo) => Float32Array): Branch[] =>
      leaves.map((l) => {
        if (l.kind === 'identity') return { kind: 'identity' };
        if (l.kind === 'bn') return { kind: 'bn', bn: l.bn.params };
        const bias = l.conv.bias ? toFloat32(l.conv.bias.tensor) : new Float32Array(l.conv.shape[0]);
        return { kind: 'conv', kernel: { shape: l.conv.shape, weight: weightOf(l.conv), bias }, bn: l.bn?.params };
      });
    const compute = () => {
      // The full-size kernel, read into an array of our own, becomes the result: no second copy.
      let owned = false;
      const branches = branchesWith((c) => {
        const own = isFull(c) ? ownedFloat32(c.weight.tensor) : undefined;
        if (own) owned = true;
        return own ?? toFloat32(c.weight.tensor);
      });
      return mergeBranches(branches, geometry, { reuseFullKernel: owned });
    };
    const fullRange = fullLeaves.length === 1 ? rowRange(fullLeaves[0].weight.tensor) : undefined;
    const rows = fullRange && {
      range: fullRange,
      prepare: () => rowMerge(branchesWith((c) => (isFull(c) ? ROWS_GIVEN : toFloat32(c.weight.tensor))), geometry),
    };
    // A merged value that is not finite came from a NaN or Inf input, or overflowed float32.
    const notFinite = (): never => {
      for (const c of convLeaves) {
        assertFinite(c.weight.value.name, toFloat32(c.weight.tensor));
        if (c.bias) assertFinite(c.bias.value.name, toFloat32(c.bias.tensor));
      }
      throw new UserError(`merging the branches of ${printable(tree.root.label)} gives values beyond the float32 range`, { hint: 'the weights are damaged; re-export them from a healthy model' });
    };
    const shape = [plan.channelsOut, plan.channelsIn / plan.group, plan.kernel[0], plan.kernel[1]] as const;
    const { weight, bias } = lazyKernelTensors(shape, { compute, rows, notFinite });
    const w = graph.addInitializer(graph.freshName(`${base}.weight`), { tensor: weight });
    const b = graph.addInitializer(graph.freshName(`${base}.bias`), { tensor: bias });
    const out = tree.root.outputs[0];
    const outName = out.name;
    const conv = graph.insertNode(
      {
        opType: 'Conv',
        name: `${prefix}rbr_reparam/Conv`,
        inputs: [plan.x, w, b],
        outputs: [graph.freshName(`${outName}__merged`)],
        attributes: conv2dAttributes({ kernel: plan.kernel, pads: plan.pads, strides: plan.strides, dilations: plan.dilations, group: plan.group }),
      },
      { before: tree.root },
    );
    graph.replaceAllUses(out, conv.outputs[0]);
    const dead = [...plan.matched].filter((n) => n.opType !== 'Constant').sort((a, b2) => graph.nodes.indexOf(b2) - graph.nodes.indexOf(a));
    for (const n of dead) graph.removeNode(n);
    graph.renameValue(conv.outputs[0], outName);
    return kindOf(leaves);
  },
};

export function kindOf(leaves: readonly Leaf[]): string {
  const convs = leaves.flatMap((l) => (l.kind === 'conv' ? [l.conv.shape] : []));
  const skips = leaves.length - convs.length;
  if (convs.some((s) => s[2] !== s[3])) return 'ACNet';
  const sizes = new Set(convs.map((s) => s[2]));
  const big = Math.max(...sizes);
  if (convs.length === 2 && sizes.size === 2 && sizes.has(1) && big > 1 && skips <= 1) return skips ? 'RepVGG 3-branch' : 'RepVGG 2-branch';
  return 'k-branch';
}
