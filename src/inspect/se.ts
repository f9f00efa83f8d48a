// Squeeze-and-excitation after a block, found by its op pattern: the block's output (or its activation)
// feeds [Pad →] GlobalAveragePool | AveragePool | ReduceMean → Conv → Relu → Conv → Sigmoid
// [→ Reshape/Flatten/Unsqueeze …] → Mul, and the Mul scales that same tensor.
import { Node, Value } from '../ir/graph';

const POOLS = ['GlobalAveragePool', 'AveragePool', 'ReduceMean'];
const GATES = ['Sigmoid', 'HardSigmoid'];
const RESHAPES = ['Reshape', 'Flatten', 'Unsqueeze', 'Squeeze'];
const ACTIVATIONS = ['Relu', 'LeakyRelu', 'Clip', 'HardSwish'];

/** Whether the tensor `v`, or the activation applied to it, is scaled by an SE module. */
export function feedsSqueezeExcite(v: Value): boolean {
  if (scaledBySe(v)) return true;
  const act = readers(v).filter((n) => ACTIVATIONS.includes(n.opType) || n.opType === 'Sigmoid');
  // SiLU is Sigmoid + Mul of the same tensor; its product is the activation.
  const outs = act.flatMap((n) => (n.opType === 'Sigmoid' ? readers(n.outputs[0]).filter((m) => m.opType === 'Mul' && m.inputs.includes(v)) : [n]));
  return outs.some((n) => scaledBySe(n.outputs[0]));
}

function scaledBySe(u: Value): boolean {
  for (const first of readers(u)) {
    let pool: Node | undefined = first;
    if (first.opType === 'Pad') pool = readers(first.outputs[0]).find((n) => POOLS.includes(n.opType));
    if (!pool || !POOLS.includes(pool.opType)) continue;
    const gate = chain(pool.outputs[0], [['Conv'], ['Relu'], ['Conv'], GATES]);
    if (!gate) continue;
    let g: Value = gate.outputs[0];
    for (let hops = 0; hops < 4; hops++) {
      const mul = readers(g).find((n) => n.opType === 'Mul' && n.inputs.includes(u));
      if (mul) return true;
      const next = readers(g).find((n) => RESHAPES.includes(n.opType));
      if (!next) break;
      g = next.outputs[0];
    }
  }
  return false;
}

/** Follows single steps whose op is in each list in turn; the last node, or undefined. */
function chain(v: Value, steps: readonly (readonly string[])[]): Node | undefined {
  let node: Node | undefined;
  let cur = v;
  for (const ops of steps) {
    node = readers(cur).find((n) => ops.includes(n.opType));
    if (!node) return undefined;
    cur = node.outputs[0];
  }
  return node;
}

const readers = (v: Value): Node[] => [...new Set(v.uses.map((u) => u.node))];
