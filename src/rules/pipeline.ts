// The re-parameterization pipeline: rules to a fixed point, then cleanup and toposort.
// Needs: a graph read from a training-time model. Guarantees: no mergeable branch group or Conv→BN pair
// is left (refusals are reported with reasons), no dead nodes or initializers, topological order.
import { Graph } from '../ir/graph';
import { cleanup } from '../ir/passes/cleanup';
import { PassResult } from '../ir/passes/pass';
import { toposort } from '../ir/passes/toposort';
import { foldConvBnRule } from './fold-conv-bn';
import { mergeBranchesRule } from './merge-branches';
import { Refusal, RuleOptions, applyRule } from './rule';

export interface ReparamReport {
  readonly opsBefore: Readonly<Record<string, number>>;
  readonly opsAfter: Readonly<Record<string, number>>;
  /** Rewrites by kind: 'RepVGG 3-branch', 'RepVGG 2-branch', 'k-branch', 'ACNet', 'Conv+BN fold'. */
  readonly merged: Readonly<Record<string, number>>;
  /** Sites a rule looked at and left, with the reason (only those still present at the end). */
  readonly refusals: readonly Refusal[];
  readonly passes: Readonly<Record<string, PassResult>>;
  readonly warnings: readonly string[];
}

export function opHistogram(graph: Graph): Record<string, number> {
  const h: Record<string, number> = {};
  for (const n of graph.nodes) {
    const k = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.${n.opType}` : n.opType;
    h[k] = (h[k] ?? 0) + 1;
  }
  // Code-point order: localeCompare would load ICU's collator, some 15 ms of every run's start.
  return Object.fromEntries(Object.entries(h).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export function reparameterize(graph: Graph, options: RuleOptions = {}): ReparamReport {
  const opsBefore = opHistogram(graph);
  const merged: Record<string, number> = {};
  const warnings: string[] = [];
  for (const n of graph.nodes) {
    const tm = n.attributes.get('training_mode')?.value;
    if (n.opType === 'BatchNormalization' && tm?.type === 'int' && tm.value !== 0) {
      warnings.push(`${n.label} has training_mode=1: the model was exported in training mode, so BN uses batch statistics and will not be folded`);
    }
  }
  let refusals: Refusal[] = [];
  for (let round = 0; round < 8; round++) {
    let applied = 0;
    refusals = [];
    for (const rule of [mergeBranchesRule, foldConvBnRule] as const) {
      const r = applyRule<unknown, unknown>(graph, rule as never, options);
      applied += r.applied;
      for (const [k, n] of Object.entries(r.byKind)) merged[k] = (merged[k] ?? 0) + n;
      refusals.push(...r.refusals);
    }
    if (applied === 0) break;
  }
  const passes = { cleanup: cleanup.run(graph), toposort: toposort.run(graph) };
  return { opsBefore, opsAfter: opHistogram(graph), merged, refusals, passes, warnings };
}
