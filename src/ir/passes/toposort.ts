// toposort: orders nodes so that every value is produced before it is read. Stable: a graph already in
// order keeps its order exactly (see dataflow-order.ts).
import { Graph } from '../graph';
import { dataflowOrder } from './dataflow-order';
import { Pass, PassResult } from './pass';
import { ACYCLIC, TOPOLOGICALLY_ORDERED } from './properties';

export const toposort: Pass = {
  name: 'toposort',
  requires: [ACYCLIC],
  guarantees: [TOPOLOGICALLY_ORDERED],
  run(graph: Graph): PassResult {
    const nodes = graph.nodes;
    const { order, stuck } = dataflowOrder(graph);
    if (stuck.length) throw new Error(`the graph has a cycle through ${stuck.slice(0, 3).map((n) => n.label).join(', ')}`);
    if (order === nodes) return { modified: false, counts: { moved: 0 } };
    const moved = order.filter((n, i) => n !== nodes[i]).length;
    if (moved) graph.setOrder(order);
    return { modified: moved > 0, counts: { moved } };
  },
};
