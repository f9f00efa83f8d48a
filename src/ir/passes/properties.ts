// The properties passes promise and require (see pass.ts), each checked in one walk over the graph.
import { Graph, Node } from '../graph';
import { Property } from './pass';
import { dataflowOrder } from './dataflow-order';

/** Every node input is a graph input, an initializer, or the output of a node. */
export const WELL_FORMED: Property = {
  name: 'well-formed',
  violation(graph) {
    for (const n of graph.nodes) {
      for (const v of n.inputs) {
        if (v && !v.producer && !v.initializer && !graph.isGraphInput(v)) return `${n.label} reads ${v.name}, which nothing defines`;
      }
    }
    return undefined;
  },
};

/** No two nodes share a (non-empty) name: onnxruntime refuses a model where they do. */
export const UNIQUE_NODE_NAMES: Property = {
  name: 'unique node names',
  violation(graph) {
    const seen = new Set<string>();
    for (const n of graph.nodes) {
      if (!n.name) continue;
      if (seen.has(n.name)) return `two nodes are named ${n.name}`;
      seen.add(n.name);
    }
    return undefined;
  },
};

export const ACYCLIC: Property = {
  name: 'acyclic',
  violation(graph) {
    const { stuck } = dataflowOrder(graph);
    return stuck.length ? `${stuck.length} nodes lie on or after a cycle` : undefined;
  },
};

/** Every value is produced before it is read. */
export const TOPOLOGICALLY_ORDERED: Property = {
  name: 'topologically ordered',
  violation(graph) {
    const done = new Set<Node>();
    for (const n of graph.nodes) {
      for (const v of [...n.inputs, ...n._captures]) {
        const p = v?.producer;
        if (p && p.graph === graph && !done.has(p)) return `${n.label} reads ${v!.name} before ${p.label} computes it`;
      }
      done.add(n);
    }
    return undefined;
  },
};

export const NO_DEAD_NODES: Property = {
  name: 'no dead nodes',
  violation(graph) {
    const dead = graph.nodes.find((n) => n.outputs.every((o) => o.uses.length === 0 && !graph.isGraphOutput(o)));
    return dead ? `${dead.label} computes nothing anyone reads` : undefined;
  },
};

export const NO_UNUSED_INITIALIZERS: Property = {
  name: 'no unused initializers',
  violation(graph) {
    const unused = graph.initializers().find((v) => v.uses.length === 0 && !graph.isGraphOutput(v));
    return unused ? `initializer ${unused.name} is read by no node` : undefined;
  },
};
