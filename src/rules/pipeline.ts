// The re-parameterization pipeline: the registered rules to a fixed point, then cleanup and toposort.
// Its contract is checked: it needs a well-formed graph (one that is not is the input's fault) and leaves one, with node names as unique as
// they came (a model whose names we made clash would be refused by onnxruntime: our bug, exit 70), no
// dead nodes or initializers, in topological order. Every mergeable site is gone; refusals come with
// reasons.
import { UserError } from '../errors';
import { printable } from '../formats/printable';
import { Graph } from '../ir/graph';
import { cleanup } from '../ir/passes/cleanup';
import { PassResult, assertProperties, runPass } from '../ir/passes/pass';
import { UNIQUE_NODE_NAMES, WELL_FORMED } from '../ir/passes/properties';
import { toposort } from '../ir/passes/toposort';
import { foldConvBnRule } from './fold-conv-bn';
import { mergeBlockRule } from './merge-block';
import { Refusal, RegisteredRule, RuleContext, RuleOptions, registerRule } from './rule';

/** The rules, in the order each round runs them. */
export const RULES: readonly RegisteredRule[] = [registerRule(mergeBlockRule), registerRule(foldConvBnRule)];

export interface ReparamReport {
  readonly opsBefore: Readonly<Record<string, number>>;
  readonly opsAfter: Readonly<Record<string, number>>;
  /** Rewrites by kind: 'RepVGG 3-branch', 'RepVGG 2-branch', 'k-branch', 'ACNet', 'DBB', 'QARepVGG', 'Conv+BN fold'. */
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
  const malformed = WELL_FORMED.violation(graph);
  if (malformed) throw new UserError(`the model is malformed: ${printable(malformed)}`, { code: 'BAD_INPUT', hint: 'export the model again' });
  const uniqueNames = UNIQUE_NODE_NAMES.violation(graph) === undefined;
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
    for (const rule of RULES) {
      const r = rule.apply(new RuleContext(graph, options));
      applied += r.applied;
      for (const [k, n] of Object.entries(r.byKind)) merged[k] = (merged[k] ?? 0) + n;
      refusals.push(...r.refusals);
    }
    if (applied === 0) break;
  }
  const passes = { cleanup: runPass(graph, cleanup), toposort: runPass(graph, toposort) };
  assertProperties(graph, uniqueNames ? [WELL_FORMED, UNIQUE_NODE_NAMES] : [WELL_FORMED], 'the rules guarantee');
  return { opsBefore, opsAfter: opHistogram(graph), merged, refusals, passes, warnings };
}
