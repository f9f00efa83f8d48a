// fold-conv-bn: Conv → BatchNormalization, where nothing else reads the Conv's output, becomes one Conv.
// It is the block model's one-branch block [conv, bn], validated and merged as every block is.
//
// Pattern: BN(Conv(X, W, c)) with the Conv output read only by the BN.
// Check: W, c and the BN parameters are float32 constants, W read only by this Conv; the BN is in
//   inference mode and its running-statistics outputs are unused.
// Rewrite: s = gamma / sqrt(var + eps);  W' = W * s[o];  c' = beta + (c - mean) * s   (c = 0 if absent).
//   The Conv keeps its attributes and name; W' takes W's name; the BN's output value is kept.
import { Node, Value } from '../ir/graph';
import { Block } from '../reparam/block';
import { accept, refuse } from '../reparam/check';
import { Geometry, validateBlock } from '../reparam/geometry';
import { checkSmallValues, mergedTensors } from '../reparam/merge';
import { OnnxParam, bnStep, convStep, unshared } from './params';
import { Rule } from './rule';

interface Plan {
  readonly conv: Node;
  readonly bn: Node;
  readonly block: Block;
  readonly geometry: Geometry;
  readonly weight: Value;
  readonly bias?: Value;
  readonly inside: ReadonlySet<Node>;
}

export const foldConvBnRule: Rule<Node, Plan> = {
  name: 'fold-conv-bn',
  description: 'fold a BatchNormalization into the Conv that feeds it',
  find: (ctx) => ctx.graph.nodes.filter((n) => n.opType === 'BatchNormalization' && n.domain === '' && n.inputs[0]?.producer?.opType === 'Conv' && n.inputs[0].producer.domain === ''),
  alive: (graph, bn) => bn.graph === graph,
  where: (bn) => bn.label,

  check(ctx, bn) {
    const graph = ctx.graph;
    const y = bn.input(0);
    const conv = y.producer!;
    if (y.uses.length !== 1 || graph.isGraphOutput(y)) return refuse(`the output of ${conv.label} is read by more than ${bn.label}`);
    const c = convStep(conv, ctx.folder);
    if (!c.ok) return c;
    const b = bnStep(bn, ctx.folder, ctx.options.defaultEpsilon);
    if (!b.ok) return b;
    if (b.plan.problem) return refuse(b.plan.problem);
    const inside = new Set<Node>([conv, bn]);
    for (const p of [c.plan.weight, c.plan.bias]) if (p) ctx.folder.cone(p.value, inside);
    const shared = unshared(c.plan.weight, `${conv.label}: weight`, inside) ?? (c.plan.bias && unshared(c.plan.bias, `${conv.label}: bias`, inside));
    if (shared) return refuse(shared);
    const block: Block = { name: conv.name || conv.label, branches: [{ steps: [c.plan.step, b.plan.step], label: conv.label }], post: [] };
    const g = validateBlock(block);
    if (!g.ok) return refuse(g.reason.replace(`${conv.label}: `, `${conv.label} → ${bn.label}: `));
    checkSmallValues(block, g.plan);
    return accept({ conv, bn, block, geometry: g.plan, weight: (c.plan.step.weight as OnnxParam).value, bias: c.plan.bias?.value, inside });
  },

  replace(_ctx, p) {
    const { weight, bias } = mergedTensors(p.block, p.geometry);
    const wName = p.weight.name;
    const bName = p.bias?.name ?? (wName.endsWith('weight') ? `${wName.slice(0, -6)}bias` : `${wName}_bias`);
    return {
      kind: 'Conv+BN fold',
      output: p.bn.outputs[0],
      node: { opType: 'Conv', name: p.conv.name, inputs: [p.conv.input(0), { newInitializer: 0 }, { newInitializer: 1 }], attributes: [...p.conv.attributes.values()] },
      initializers: [
        { name: `${wName}__folded`, tensor: weight, takeNameOf: p.weight },
        { name: p.bias ? `${bName}__folded` : bName, tensor: bias, takeNameOf: p.bias },
      ],
      matched: [...p.inside],
    };
  },
};
