// What the rules see, without changing the graph: every Add tree merge-branches looks at, described by its
// summands (kinds, kernels, stride, groups) with the rule's own verdict, and every Conv→BN pair
// fold-conv-bn looks at. `inspect` reports these; the rules themselves are untouched.
import { Graph, Node, Value } from '../ir/graph';
import { foldConvBnRule } from './fold-conv-bn';
import { kindOf, mergeBranchesRule } from './merge-branches';
import { constantTensor } from './params';
import { blockPrefix } from './rewrite-helpers';
import { RuleOptions } from './rule';

export type Verdict = { readonly ok: true; readonly kind: string } | { readonly ok: false; readonly reason: string };

export interface Summand {
  /** 'conv+bn', 'conv', 'bn' (a BatchNormalization of x), 'identity' (x itself); otherwise the op computing it ('Relu', 'input', …). */
  readonly kind: string;
  /** [kh, kw] of a conv summand. */
  readonly kernel?: readonly [number, number];
  readonly value: Value;
  readonly conv?: Node;
  readonly bn?: Node;
}

export interface BranchSum {
  /** The root Add; the merged Conv would take over its output. */
  readonly root: Node;
  readonly output: Value;
  /** Common node-name prefix of the block, e.g. "/stage1/stage1.0/"; "" when the nodes are unnamed. */
  readonly prefix: string;
  /** The tensor the first conv summand reads. */
  readonly x?: Value;
  readonly summands: readonly Summand[];
  /** Of the first conv summand. */
  readonly strides?: readonly number[];
  readonly group?: number;
  /** merge-branches' check on the graph as it is now. */
  readonly verdict: Verdict;
}

const isOp = (n: Node | null, op: string): boolean => !!n && n.opType === op && n.domain === '';

/** Every Add tree merge-branches would look at, with its summands and the rule's verdict. */
export function branchSums(graph: Graph, options: RuleOptions = {}): BranchSum[] {
  return mergeBranchesRule.find(graph).map((tree) => {
    const summands = tree.leaves.map(describeSummand);
    // The rule's own check comes first: it refuses a malformed Conv (an attribute of the wrong type) by name.
    const verdict = verdictOf(graph, tree, options);
    const firstConv = summands.find((s) => s.conv)?.conv;
    const x = firstConv?.inputs[0] ?? undefined;
    const withX = x ? summands.map((s) => (s.kind === 'bn' && s.bn?.inputs[0] !== x ? { ...s, kind: 'bn of another input' } : !s.conv && !s.bn && s.value === x ? { ...s, kind: 'identity' } : s)) : summands;
    const nodes = [...tree.adds, ...summands.flatMap((s) => [s.conv, s.bn].filter((n): n is Node => !!n))];
    return {
      root: tree.root,
      output: tree.root.outputs[0],
      prefix: blockPrefix(nodes),
      x,
      summands: withX,
      strides: firstConv ? ints(firstConv, 'strides') ?? [1, 1] : undefined,
      group: firstConv ? int(firstConv, 'group') ?? 1 : undefined,
      verdict,
    };
  });
}

/** merge-branches' verdict on the tree rooted at `root`, if that Add is still a root in `graph`. */
export function branchSumVerdict(graph: Graph, root: Node, options: RuleOptions = {}): Verdict | undefined {
  const tree = mergeBranchesRule.find(graph).find((t) => t.root === root);
  return tree ? verdictOf(graph, tree, options) : undefined;
}

/** Every BatchNormalization fed by a Conv: the sites fold-conv-bn looks at. */
export function convBnPairs(graph: Graph): { readonly conv: Node; readonly bn: Node }[] {
  return foldConvBnRule.find(graph).map((bn) => ({ conv: bn.input(0).producer!, bn }));
}

/** fold-conv-bn's verdict on a BatchNormalization still in `graph`. */
export function convBnVerdict(graph: Graph, bn: Node, options: RuleOptions = {}): Verdict {
  const c = foldConvBnRule.check(graph, bn, options);
  return c.ok ? { ok: true, kind: 'Conv+BN fold' } : { ok: false, reason: c.reason };
}

function verdictOf(graph: Graph, tree: Parameters<typeof mergeBranchesRule.check>[1], options: RuleOptions): Verdict {
  const c = mergeBranchesRule.check(graph, tree, options);
  return c.ok ? { ok: true, kind: kindOf(c.plan.leaves) } : { ok: false, reason: c.reason };
}

function describeSummand(v: Value): Summand {
  const p = v.producer;
  if (!p) return { kind: v.initializer ? 'constant' : 'input', value: v };
  if (isOp(p, 'BatchNormalization')) {
    const q = p.inputs[0]?.producer ?? null;
    if (q && isOp(q, 'Conv')) return { kind: 'conv+bn', kernel: kernelOf(q), value: v, conv: q, bn: p };
    return { kind: 'bn', value: v, bn: p };
  }
  if (isOp(p, 'Conv')) return { kind: 'conv', kernel: kernelOf(p), value: v, conv: p };
  return { kind: p.opType === 'Constant' ? 'constant' : p.opType, value: v };
}

/** Attribute values for the report; one of another type than ONNX's reads as absent (the rules refuse such a node). */
function ints(n: Node, name: string): readonly number[] | undefined {
  const a = n.attributes.get(name)?.value;
  return a?.type === 'ints' ? a.value : undefined;
}
function int(n: Node, name: string): number | undefined {
  const a = n.attributes.get(name)?.value;
  return a?.type === 'int' ? a.value : undefined;
}

function kernelOf(conv: Node): readonly [number, number] | undefined {
  const attr = ints(conv, 'kernel_shape');
  if (attr && attr.length === 2) return [attr[0], attr[1]];
  const w = conv.inputs[1] ? constantTensor(conv.inputs[1]) : undefined;
  return w && w.shape.length === 4 ? [w.shape[2], w.shape[3]] : undefined;
}
