// A pass states what it needs from the graph, what it guarantees after it ran, and whether it changed
// anything, so a pipeline can be read (and checked) as a list of contracts.
import { Graph } from '../graph';

export interface PassResult {
  readonly modified: boolean;
  /** Pass-specific counts, e.g. nodes removed. */
  readonly counts: Readonly<Record<string, number>>;
}

export interface Pass {
  readonly name: string;
  /** Properties the graph must have before the pass runs. */
  readonly requires: readonly string[];
  /** Properties the graph has after the pass ran. */
  readonly guarantees: readonly string[];
  run(graph: Graph): PassResult;
}
