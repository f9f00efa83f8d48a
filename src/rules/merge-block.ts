// merge-block: a linear region that the block model reads (rules/match-block.ts) becomes one Conv.
//
// Pattern: a tree of Adds and the per-channel ops after it (see match-block.ts).
// Check: the block validator (reparam/geometry.ts) and the values (reparam/values.ts).
// Rewrite: one Conv of x with the merged kernel and bias (reparam/merge.ts, math/kernel.ts):
//   W = Σ_b place(K_b · s_b · s_post),  bias = beta_post + (Σ_b (beta_b + (c_b − mu_b) · s_b) + Σ const − mu_post) · s_post
// computed when written, in float64, rounded once. The runner hands the Conv the region's output name.
import { blockKind } from '../reparam/kind';
import { mergedTensors } from '../reparam/merge';
import { OnnxBlock, Site, findSites, readSite } from './match-block';
import { conv2dAttributes, paramBaseName } from './rewrite-helpers';
import { Rule } from './rule';

export const mergeBlockRule: Rule<Site, OnnxBlock> = {
  name: 'merge-block',
  description: 'merge a linear region (branches summed by Adds, then per-channel ops) into one Conv',
  find: (ctx) => findSites(ctx),
  alive: (graph, s) => [...s.adds, ...s.post].every((n) => n.graph === graph),
  where: (s) => s.root.label,
  check: (ctx, s) => readSite(ctx, s).verdict,
  replace(_ctx, b) {
    const g = b.geometry;
    const base = paramBaseName(b.convWeights.map((v) => v.name), b.prefix, 'rbr_reparam');
    const { weight, bias } = mergedTensors(b.block, g);
    return {
      kind: blockKind(b.block),
      output: b.site.output,
      node: {
        opType: 'Conv',
        name: `${b.prefix}rbr_reparam/Conv`,
        inputs: [b.x, { newInitializer: 0 }, { newInitializer: 1 }],
        attributes: conv2dAttributes({ kernel: g.kernel, pads: g.pads, strides: g.stride, dilations: g.dilation, group: g.group }),
      },
      initializers: [
        { name: `${base}.weight`, tensor: weight },
        { name: `${base}.bias`, tensor: bias },
      ],
      matched: [...b.nodes],
    };
  },
};
