// The stable dataflow order of a graph (Kahn's algorithm, always taking the earliest ready node), for
// toposort, the reader and the acyclic property. Linear in the links plus n log n for the choice of the
// earliest ready node (a heap), whatever the graph's shape.
import { Graph, Node } from '../graph';

export interface DataflowOrder {
  /** The nodes in dataflow order (all of them when there is no cycle). */
  readonly order: readonly Node[];
  /** Nodes on or behind a cycle, in their original order; empty when there is none. */
  readonly stuck: readonly Node[];
}

/** The stable dataflow order of the graph's nodes (inputs and values read inside subgraphs both count). */
export function dataflowOrder(graph: Graph): DataflowOrder {
  const nodes = graph.nodes;
  const n = nodes.length;
  const at = (node: Node) => graph.position(node);
  // Fast path: already in order.
  let ordered = true;
  for (let i = 0; i < n && ordered; i++) {
    for (const v of nodes[i].inputs) if (v?.producer && at(v.producer) >= i) ordered = false;
    for (const v of nodes[i]._captures) if (v.producer && at(v.producer) >= i) ordered = false;
  }
  if (ordered) return { order: nodes, stuck: [] };
  const order = [...nodes];
  const pending = new Int32Array(n);
  const readers: number[][] = Array.from({ length: n }, () => []);
  // Each producer counted once per reader: seen[j] === i marks j as already a dependency of node i.
  const seen = new Int32Array(n).fill(-1);
  for (let i = 0; i < n; i++) {
    const node = order[i];
    for (const v of [...node.inputs, ...node._captures]) {
      const j = v?.producer ? at(v.producer) : -1;
      if (j < 0 || seen[j] === i) continue;
      seen[j] = i;
      pending[i]++;
      readers[j].push(i);
    }
  }
  const ready = new MinHeap(n);
  for (let i = 0; i < n; i++) if (pending[i] === 0) ready.push(i);
  const out: Node[] = [];
  while (ready.size) {
    const i = ready.pop();
    out.push(order[i]);
    for (const r of readers[i]) if (--pending[r] === 0) ready.push(r);
  }
  if (out.length === n) return { order: out, stuck: [] };
  const done = new Set(out);
  return { order: out, stuck: order.filter((x) => !done.has(x)) };
}

/** A min-heap of node positions. */
class MinHeap {
  private readonly a: Int32Array;
  size = 0;
  constructor(capacity: number) {
    this.a = new Int32Array(Math.max(1, capacity));
  }
  push(x: number): void {
    const a = this.a;
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p] <= x) break;
      a[i] = a[p];
      i = p;
    }
    a[i] = x;
  }
  pop(): number {
    const a = this.a;
    const top = a[0];
    const x = a[--this.size];
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= this.size) break;
      if (c + 1 < this.size && a[c + 1] < a[c]) c++;
      if (a[c] >= x) break;
      a[i] = a[c];
      i = c;
    }
    a[i] = x;
    return top;
  }
}

