// A rewrite rule is a pattern (where to look), a check (may it fire here, and if not, why) and a
// rewrite (the change, applied inside a graph transaction). The runner counts what fired, by kind,
// and keeps every refusal with its reason for --verbose.
import { Graph } from '../ir/graph';

export type Check<P> = { readonly ok: true; readonly plan: P } | { readonly ok: false; readonly reason: string };

export const refuse = (reason: string): { ok: false; reason: string } => ({ ok: false, reason });

export interface RuleOptions {
  /** Epsilon used where a BatchNormalization has none (ONNX default 1e-5). */
  readonly defaultEpsilon?: number;
}

export interface Rule<M, P> {
  readonly name: string;
  readonly description: string;
  /** Candidate sites, computed on the graph as it is when the rule starts. */
  find(graph: Graph): M[];
  /** Whether the site is still there (an earlier rewrite may have consumed it). */
  alive(graph: Graph, match: M): boolean;
  where(match: M): string;
  check(graph: Graph, match: M, options: RuleOptions): Check<P>;
  /** Applies the change; returns the kind of rewrite for the report. */
  rewrite(graph: Graph, plan: P, options: RuleOptions): string;
}

export interface Refusal {
  readonly rule: string;
  readonly where: string;
  readonly reason: string;
}

export interface RuleReport {
  readonly rule: string;
  readonly applied: number;
  readonly byKind: Readonly<Record<string, number>>;
  readonly refusals: readonly Refusal[];
}

export function applyRule<M, P>(graph: Graph, rule: Rule<M, P>, options: RuleOptions = {}): RuleReport {
  const byKind: Record<string, number> = {};
  const refusals: Refusal[] = [];
  let applied = 0;
  for (const m of rule.find(graph)) {
    if (!rule.alive(graph, m)) continue;
    const c = rule.check(graph, m, options);
    if (!c.ok) {
      refusals.push({ rule: rule.name, where: rule.where(m), reason: c.reason });
      continue;
    }
    const kind = graph.transaction(() => rule.rewrite(graph, c.plan, options));
    byKind[kind] = (byKind[kind] ?? 0) + 1;
    applied++;
  }
  return { rule: rule.name, applied, byKind, refusals };
}
