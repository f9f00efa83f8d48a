// cleanup: removes nodes whose outputs nobody reads (graph outputs count as readers) and initializers
// that no node reads. Dead chains go at once, in time linear in the graph: a node found dead is removed,
// then the producers of what it read are looked at again (they may have had no other reader).
import { Graph, Node } from '../graph';
import { Pass, PassResult } from './pass';
import { NO_DEAD_NODES, NO_UNUSED_INITIALIZERS } from './properties';

export const cleanup: Pass = {
  name: 'cleanup',
  requires: [],
  guarantees: [NO_DEAD_NODES, NO_UNUSED_INITIALIZERS],
  run(graph: Graph): PassResult {
    const dead = (n: Node) => n.graph === graph && n.outputs.every((o) => o.useCount === 0 && !graph.isGraphOutput(o));
    let nodes = 0;
    // Last to first: in a graph in dataflow order, a node's readers are gone before it is looked at.
    const look = [...graph.nodes];
    while (look.length) {
      const n = look.pop()!;
      if (!dead(n)) continue;
      graph.removeNode(n);
      nodes++;
      for (const v of [...n.inputs, ...n._captures]) if (v?.producer && dead(v.producer)) look.push(v.producer);
    }
    let initializers = 0;
    for (const v of graph.initializers()) {
      if (v.useCount === 0 && !graph.isGraphOutput(v)) {
        graph.removeInitializer(v);
        initializers++;
      }
    }
    return { modified: nodes + initializers > 0, counts: { nodes, initializers } };
  },
};
