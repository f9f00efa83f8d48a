// A pass states what it needs from the graph, what it guarantees after it ran, and whether it changed
// anything. The contracts are properties the runner checks: a pass run on a graph that lacks what it
// needs, or that leaves a guarantee unmet, is a bug in this program (an internal error, exit 70).
import { Graph } from '../graph';

export interface PassResult {
  readonly modified: boolean;
  /** Pass-specific counts, e.g. nodes removed. */
  readonly counts: Readonly<Record<string, number>>;
}

/** A property of a graph, checked in linear time. */
export interface Property {
  readonly name: string;
  /** Undefined when the graph has the property; otherwise what breaks it. */
  violation(graph: Graph): string | undefined;
}

export interface Pass {
  readonly name: string;
  /** Properties the graph must have before the pass runs. */
  readonly requires: readonly Property[];
  /** Properties the graph has after the pass ran. */
  readonly guarantees: readonly Property[];
  run(graph: Graph): PassResult;
}

/** Runs a pass with its contract checked before and after. */
export function runPass(graph: Graph, pass: Pass): PassResult {
  assertProperties(graph, pass.requires, `${pass.name} needs`);
  const r = pass.run(graph);
  assertProperties(graph, pass.guarantees, `${pass.name} guarantees`);
  return r;
}

export function assertProperties(graph: Graph, props: readonly Property[], what: string): void {
  for (const p of props) {
    const v = p.violation(graph);
    if (v !== undefined) throw new Error(`${what} '${p.name}', but ${v}`);
  }
}
