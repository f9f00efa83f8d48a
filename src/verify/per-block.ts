// Where a deploy model starts to differ from its training model. A conversion keeps the name of every
// value it does not remove: a merged block's Conv takes over the output value of the sum it replaces, and
// the activations after it keep theirs. So the two graphs share a value at the end of every block; marked
// as extra outputs in both (graphs written into a check folder, weights referenced where they sit), they
// are compared like the model's outputs, and the first that differs, in the deploy graph's order, names
// the block.
import { Graph, Value } from '../ir/graph';
import { readOnnx } from '../formats/onnx/read';
import { CheckFolder } from './check-folder';

export interface Probe {
  /** The value compared, by its name in both graphs. */
  readonly value: string;
  /** The deploy graph's node that makes it (a merged block's Conv carries the block's module path). */
  readonly node: string;
  readonly opType: string;
}

export interface ProbedPair {
  readonly reference: string;
  readonly candidate: string;
  /** In the deploy graph's dataflow order. */
  readonly probes: readonly Probe[];
}

/**
 * Both graphs, written into `folder` with every value they share marked as an output: the outputs of
 * the deploy graph's Convs where the training graph has them too (the ends of merged blocks), else every
 * value both graphs compute.
 */
export function probedPair(folder: CheckFolder, reference: string, candidate: string): ProbedPair {
  const ref = readOnnx(reference);
  const cand = readOnnx(candidate);
  try {
    const inRef = new Set(computed(ref.graph).map((v) => v.name));
    const shared = computed(cand.graph).filter((v) => inRef.has(v.name) && !cand.graph.isGraphOutput(v));
    const atConvs = shared.filter((v) => v.producer?.opType === 'Conv');
    const chosen = atConvs.length > 0 ? atConvs : shared;
    const probes = chosen.map((v) => ({ value: v.name, node: v.producer!.name || v.producer!.label, opType: v.producer!.opType }));
    for (const p of probes) {
      ref.graph.addGraphOutput(ref.graph.value(p.value)!);
      cand.graph.addGraphOutput(cand.graph.value(p.value)!);
    }
    return { reference: folder.put('probed-reference', ref).path, candidate: folder.put('probed-candidate', cand).path, probes };
  } finally {
    ref.close();
    cand.close();
  }
}

/** Values made by the graph's nodes, in its node order (dataflow order, as read). */
function computed(g: Graph): Value[] {
  const out: Value[] = [];
  for (const n of g.nodes) for (const v of n.outputs) if (!v.absent) out.push(v);
  return out;
}
