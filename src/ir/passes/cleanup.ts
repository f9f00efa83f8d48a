// cleanup: removes nodes whose outputs nobody reads (graph outputs count as readers) and initializers
// that no node reads. Runs to a fixed point, so chains of dead nodes go at once.
import { Graph } from '../graph';
import { Pass, PassResult } from './pass';
import { NO_DEAD_NODES, NO_UNUSED_INITIALIZERS } from './properties';

export const cleanup: Pass = {
  name: 'cleanup',
  requires: [],
  guarantees: [NO_DEAD_NODES, NO_UNUSED_INITIALIZERS],
  run(graph: Graph): PassResult {
    let nodes = 0;
    let initializers = 0;
    for (let changed = true; changed; ) {
      changed = false;
      for (const n of [...graph.nodes].reverse()) {
        if (n.outputs.every((o) => o.uses.length === 0 && !graph.isGraphOutput(o))) {
          graph.removeNode(n);
          nodes++;
          changed = true;
        }
      }
    }
    for (const v of graph.initializers()) {
      if (v.uses.length === 0 && !graph.isGraphOutput(v)) {
        graph.removeInitializer(v);
        initializers++;
      }
    }
    return { modified: nodes + initializers > 0, counts: { nodes, initializers } };
  },
};
