// A rewrite rule is a pattern (where to look), a check (may it fire here, and if not, why) and a
// replacement (what the site becomes). The runner does every edit: inside one graph transaction it adds
// the replacement's node and initializers, moves the readers of the site's output to the new node,
// removes the matched nodes left without readers, and gives the new output the old name, so that names
// downstream and graph outputs are kept and a failure leaves the graph as it was. Node names stay
// unique. The runner counts what fired, by kind, and keeps every refusal with its reason for --verbose.
import { Attribute } from '../ir/attribute';
import { ConstantFolder } from '../ir/evaluate';
import { Graph, Node, Value } from '../ir/graph';
import { Dims, propagateShapes } from '../ir/shapes';
import { Check } from '../reparam/check';
import { Tensor } from '../tensor';

export type { Check } from '../reparam/check';
export { refuse, accept } from '../reparam/check';

export interface RuleOptions {
  /** Epsilon used where a BatchNormalization has none (ONNX default 1e-5). */
  readonly defaultEpsilon?: number;
  /** The model's default-domain opset, for the shapes of ops whose inputs moved to attributes and back. */
  readonly opset?: number;
}

/** What a rule may ask of the graph besides its nodes: constant values and fixed shapes, worked out on demand. */
export class RuleContext {
  readonly folder: ConstantFolder;
  private shapes?: Map<Value, Dims>;
  /** Values the shapes were worked out for: one missing from them is new, and the shapes are worked out again. */
  private known = new Set<Value>();

  constructor(readonly graph: Graph, readonly options: RuleOptions = {}) {
    this.folder = new ConstantFolder((v) => this.shapeOf(v));
  }

  /** The value's shape from the graph inputs' fixed dims (a dynamic batch counts as 1); undefined where it is not fixed. */
  shapeOf(v: Value): Dims | undefined {
    if (!this.shapes || !this.known.has(v)) {
      const inputs = new Map<string, Dims>();
      for (const i of this.graph.inputs) {
        const dims = i.type?.dims;
        if (i.initializer || !dims) continue;
        const fixed = dims.map((d, k) => (typeof d === 'number' && d > 0 ? d : k === 0 ? 1 : -1));
        if (fixed.every((d) => d > 0)) inputs.set(i.name, fixed);
      }
      this.shapes = propagateShapes(this.graph, inputs, this.options.opset ?? 13);
      this.known = new Set(this.graph.values);
    }
    return this.shapes.get(v);
  }
}

/** An input of the new node: a value of the graph, an absent optional input, or one of the replacement's initializers. */
export type NewInput = Value | null | { readonly newInitializer: number };

export interface Replacement {
  /** The kind of rewrite, for the report ('RepVGG 3-branch', 'Conv+BN fold', …). */
  readonly kind: string;
  /** The value the site computes: its readers move to the new node's output, which then takes its name. */
  readonly output: Value;
  readonly node: {
    readonly opType: string;
    /** A name to start from; the runner makes it unique among the graph's nodes. */
    readonly name: string;
    readonly inputs: readonly NewInput[];
    readonly attributes: readonly Attribute[];
  };
  readonly initializers: readonly {
    readonly name: string;
    readonly tensor: Tensor;
    /** Take over this initializer's name once nothing reads it any more (a folded weight keeps its name). */
    readonly takeNameOf?: Value;
  }[];
  /** Nodes of the site: those left without readers are removed. */
  readonly matched: readonly Node[];
}

export interface Rule<M, P> {
  readonly name: string;
  readonly description: string;
  /** Candidate sites, computed on the graph as it is when the rule starts. */
  find(ctx: RuleContext): M[];
  /** Whether the site is still there (an earlier rewrite may have consumed it). */
  alive(graph: Graph, match: M): boolean;
  where(match: M): string;
  check(ctx: RuleContext, match: M): Check<P>;
  replace(ctx: RuleContext, plan: P): Replacement;
}

export interface Refusal {
  readonly rule: string;
  readonly where: string;
  readonly reason: string;
  /** False for a site that is no block at all (a residual sum of activations); true for a block left unmerged. */
  readonly block: boolean;
}

export interface RuleReport {
  readonly rule: string;
  readonly applied: number;
  readonly byKind: Readonly<Record<string, number>>;
  readonly refusals: readonly Refusal[];
}

/** A rule with its match and plan types hidden: what a registry holds and a pipeline runs. */
export interface RegisteredRule {
  readonly name: string;
  readonly description: string;
  apply(ctx: RuleContext): RuleReport;
}

export function registerRule<M, P>(rule: Rule<M, P>): RegisteredRule {
  return { name: rule.name, description: rule.description, apply: (ctx) => applyRule(ctx, rule) };
}

export function applyRule<M, P>(ctx: RuleContext, rule: Rule<M, P>): RuleReport {
  const graph = ctx.graph;
  const byKind: Record<string, number> = {};
  const refusals: Refusal[] = [];
  const names = new NodeNames(graph);
  let applied = 0;
  for (const m of rule.find(ctx)) {
    if (!rule.alive(graph, m)) continue;
    const c = rule.check(ctx, m);
    if (!c.ok) {
      refusals.push({ rule: rule.name, where: rule.where(m), reason: c.reason, block: !c.notABlock });
      continue;
    }
    const r = rule.replace(ctx, c.plan);
    graph.transaction(() => splice(graph, r, names));
    byKind[r.kind] = (byKind[r.kind] ?? 0) + 1;
    applied++;
  }
  return { rule: rule.name, applied, byKind, refusals };
}

/** The edits of a replacement; run inside a transaction. */
function splice(graph: Graph, r: Replacement, names: NodeNames): void {
  const out = r.output;
  const outName = out.name;
  const anchor = out.producer;
  if (!anchor || !r.matched.includes(anchor)) throw new Error(`${r.kind}: the output ${outName} is not computed by the matched nodes`);
  const dead = deadAfter(graph, r.matched, out);
  const inits = r.initializers.map((i) => graph.addInitializer(graph.freshName(i.name), { tensor: i.tensor }));
  const inputs = r.node.inputs.map((i) => (i && 'newInitializer' in i ? inits[i.newInitializer] : i));
  const name = names.take(r.node.name, dead);
  const node = graph.insertNode(
    { opType: r.node.opType, name, inputs, outputs: [graph.freshName(`${outName}__${r.node.opType.toLowerCase()}`)], attributes: r.node.attributes },
    { before: anchor },
  );
  graph.replaceAllUses(out, node.outputs[0]);
  const order = new Map(graph.nodes.map((n, i) => [n, i]));
  for (const n of [...dead].sort((a, b) => order.get(b)! - order.get(a)!)) {
    graph.removeNode(n);
    names.release(n);
  }
  graph.renameValue(node.outputs[0], outName);
  r.initializers.forEach((i, k) => {
    const old = i.takeNameOf;
    if (old?.initializer && graph.value(old.name) === old && old.uses.length === 0 && !graph.isGraphOutput(old)) {
      graph.removeInitializer(old);
      graph.renameValue(inits[k], old.name);
    }
  });
}

/** The matched nodes that nothing reads once the readers of `out` have moved (to a fixed point). */
function deadAfter(graph: Graph, matched: readonly Node[], out: Value): Set<Node> {
  const dead = new Set<Node>();
  for (let changed = true; changed; ) {
    changed = false;
    for (const n of matched) {
      if (dead.has(n)) continue;
      const unread = n.outputs.every((o) => o === out || (!graph.isGraphOutput(o) && o.uses.every((u) => dead.has(u.node))));
      if (unread) {
        dead.add(n);
        changed = true;
      }
    }
  }
  return dead;
}

/** The node names of a graph, so that new nodes get names no other node has. */
class NodeNames {
  private readonly count = new Map<string, number>();

  constructor(graph: Graph) {
    for (const n of graph.nodes) if (n.name) this.count.set(n.name, (this.count.get(n.name) ?? 0) + 1);
  }

  /** `base`, or `base_1`, `base_2`, … : the first no node will have once `leaving` are gone. */
  take(base: string, leaving: ReadonlySet<Node>): string {
    const freed = new Map<string, number>();
    for (const n of leaving) if (n.name) freed.set(n.name, (freed.get(n.name) ?? 0) + 1);
    const free = (s: string) => (this.count.get(s) ?? 0) - (freed.get(s) ?? 0) <= 0;
    let name = base;
    for (let i = 1; !free(name); i++) name = `${base}_${i}`;
    this.count.set(name, (this.count.get(name) ?? 0) + 1);
    return name;
  }

  release(n: Node): void {
    if (!n.name) return;
    const c = (this.count.get(n.name) ?? 0) - 1;
    if (c > 0) this.count.set(n.name, c);
    else this.count.delete(n.name);
  }
}
