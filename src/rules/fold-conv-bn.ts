// fold-conv-bn: Conv → BatchNormalization, where nothing else reads the Conv's output, becomes one Conv.
//
// Pattern: BN(Conv(X, W, c)) with the Conv output read only by the BN.
// Check: W, c and the BN parameters are float32 constants read only by these two nodes; the BN is in
//   inference mode and its running-statistics outputs are unused.
// Rewrite: s = gamma / sqrt(var + eps);  W' = W * s[o];  c' = beta + (c - mean) * s   (c = 0 if absent).
//   The Conv keeps its attributes and name; W' takes W's name; the BN's output value is kept.
import { Graph, Node } from '../ir/graph';
import { UserError } from '../errors';
import { printable } from '../formats/printable';
import { allFinite, foldBatchNorm, rowFold } from '../math/kernel';
import { toFloat32 } from '../tensor';
import { BnInfo, ConvInfo, assertFinite, bnInfo, convInfo } from './params';
import { Check, Rule, refuse } from './rule';
import { lazyKernelTensors, rowRange } from './rewrite-helpers';

interface Plan {
  readonly conv: ConvInfo;
  readonly bn: BnInfo;
}

export const foldConvBnRule: Rule<Node, Plan> = {
  name: 'fold-conv-bn',
  description: 'fold a BatchNormalization into the Conv that feeds it',
  find: (graph) => graph.nodes.filter((n) => n.opType === 'BatchNormalization' && n.domain === '' && n.inputs[0]?.producer?.opType === 'Conv'),
  alive: (graph, bn) => bn.graph === graph,
  where: (bn) => bn.label,

  check(graph: Graph, bn: Node, options): Check<Plan> {
    const y = bn.input(0);
    const convNode = y.producer!;
    if (y.uses.length !== 1 || graph.isGraphOutput(y)) return refuse(`the output of ${convNode.label} is read by more than ${bn.label}`);
    const inside = new Set<Node>([bn, convNode]);
    for (const v of [...convNode.inputs.slice(1), ...bn.inputs.slice(1)]) if (v?.producer?.opType === 'Constant') inside.add(v.producer);
    const conv = convInfo(convNode, inside);
    if (!conv.ok) return conv;
    const b = bnInfo(bn, inside, options);
    if (!b.ok) return b;
    if (b.plan.channels !== conv.plan.shape[0]) return refuse(`${bn.label} has ${b.plan.channels} channels, ${convNode.label} produces ${conv.plan.shape[0]}`);
    return { ok: true, plan: { conv: conv.plan, bn: b.plan } };
  },

  rewrite(graph, { conv, bn }) {
    const convBias = () => (conv.bias ? toFloat32(conv.bias.tensor) : new Float32Array(conv.shape[0]));
    const compute = () => {
      const k = foldBatchNorm({ shape: conv.shape, weight: toFloat32(conv.weight.tensor), bias: convBias() }, bn.params);
      return { ...k, finite: allFinite(k.weight) && allFinite(k.bias) };
    };
    const range = rowRange(conv.weight.tensor);
    const rows = range && { range, prepare: () => rowFold(conv.shape, convBias(), bn.params) };
    // BN parameters were checked in bnInfo: a value that is not finite came from W or c, or overflowed.
    const notFinite = (): never => {
      assertFinite(conv.weight.value.name, toFloat32(conv.weight.tensor));
      if (conv.bias) assertFinite(conv.bias.value.name, toFloat32(conv.bias.tensor));
      throw new UserError(`folding ${printable(bn.node.label)} into ${printable(conv.node.label)} gives values beyond the float32 range`, { hint: 'the weights are damaged; re-export them from a healthy model' });
    };
    const { weight, bias } = lazyKernelTensors(conv.shape, { compute, rows, notFinite });
    const out = bn.node.outputs[0];
    const outName = out.name;
    const wName = conv.weight.value.name;
    const bName = conv.bias?.value.name ?? (wName.endsWith('weight') ? `${wName.slice(0, -6)}bias` : `${wName}_bias`);
    const w = graph.addInitializer(graph.freshName(`${wName}__folded`), { tensor: weight });
    const b = graph.addInitializer(graph.freshName(`${bName}__folded`), { tensor: bias });
    const fused = graph.insertNode(
      { opType: 'Conv', name: conv.node.name, inputs: [conv.x, w, b], outputs: [graph.freshName(`${outName}__folded`)], attributes: [...conv.node.attributes.values()] },
      { before: bn.node },
    );
    graph.replaceAllUses(out, fused.outputs[0]);
    graph.removeNode(bn.node);
    graph.removeNode(conv.node);
    graph.renameValue(fused.outputs[0], outName);
    // The folded weights take the old names once nothing reads the originals.
    for (const [old, now] of [[conv.weight.value, w], [conv.bias?.value, b]] as const) {
      if (old?.initializer && old.uses.length === 0 && !graph.isGraphOutput(old)) {
        graph.removeInitializer(old);
        graph.renameValue(now, old.name);
      }
    }
    if (!conv.bias && !graph.value(bName)) graph.renameValue(b, bName);
    return 'Conv+BN fold';
  },
};
