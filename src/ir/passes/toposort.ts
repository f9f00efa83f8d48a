// toposort: orders nodes so that every value is produced before it is read. Stable: a graph already in
// order keeps its order exactly (Kahn's algorithm, always taking the earliest ready node).
import { Graph, Node } from '../graph';
import { Pass, PassResult } from './pass';
import { ACYCLIC, TOPOLOGICALLY_ORDERED } from './properties';

export const toposort: Pass = {
  name: 'toposort',
  requires: [ACYCLIC],
  guarantees: [TOPOLOGICALLY_ORDERED],
  run(graph: Graph): PassResult {
    const nodes = graph.nodes;
    const index = new Map(nodes.map((n, i) => [n, i]));
    const pending = new Map<Node, number>();
    const readers = new Map<Node, Node[]>();
    for (const n of nodes) {
      const deps = new Set<Node>();
      for (const v of [...n.inputs, ...n._captures]) if (v?.producer && index.has(v.producer)) deps.add(v.producer);
      pending.set(n, deps.size);
      for (const d of deps) readers.set(d, [...(readers.get(d) ?? []), n]);
    }
    // Ready nodes kept sorted by original position.
    const ready = nodes.filter((n) => pending.get(n) === 0);
    const order: Node[] = [];
    while (ready.length) {
      let best = 0;
      for (let i = 1; i < ready.length; i++) if (index.get(ready[i])! < index.get(ready[best])!) best = i;
      const n = ready.splice(best, 1)[0];
      order.push(n);
      for (const r of readers.get(n) ?? []) {
        const left = pending.get(r)! - 1;
        pending.set(r, left);
        if (left === 0) ready.push(r);
      }
    }
    if (order.length !== nodes.length) {
      const stuck = nodes.filter((n) => !order.includes(n)).slice(0, 3).map((n) => n.label);
      throw new Error(`the graph has a cycle through ${stuck.join(', ')}`);
    }
    const modified = order.some((n, i) => n !== nodes[i]);
    if (modified) graph.setOrder(order);
    return { modified, counts: { moved: order.filter((n, i) => n !== nodes[i]).length } };
  },
};
