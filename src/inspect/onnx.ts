// inspect for ONNX models: the rules' verdict on every block, read from the graph before conversion, and
// the conversion itself run on the in-memory graph (nothing is written) for the deploy-form counts.
import { UserError } from '../errors';
import { OnnxModel, readOnnx } from '../formats/onnx/read';
import { ModelField } from '../formats/onnx/fields';
import { ProtoReader, last } from '../formats/protobuf/reader';
import { intAttr, intsAttr } from '../ir/attribute';
import { Graph, Node } from '../ir/graph';
import { foldConvBnRule } from '../rules/fold-conv-bn';
import { Site, SiteReading, findSites, readSite } from '../rules/match-block';
import { convWeightsAllInputs } from '../rules/params';
import { reparameterize } from '../rules/pipeline';
import { RuleContext, RuleOptions } from '../rules/rule';
import { blockKind } from '../reparam/kind';
import { summarizeBranches } from '../reparam/kind';
import { Dims, attributesWellTyped } from '../ir/shapes';
import { graphCost } from './cost';
import { BlockInfo, FoldInfo, InspectReport, ModelForm, OnnxFacts } from './report';
import { feedsSqueezeExcite } from './se';
import { assertRunnable } from '../rules/runnable';

export interface InspectOnnxOptions {
  /** Input shapes by name, or under '*' for the first input. Dynamic batch dims default to 1. */
  readonly inputShapes?: Readonly<Record<string, readonly number[]>>;
  /** BatchNormalization epsilon where a node carries none. */
  readonly bnEps?: number;
}

/** A conv that is already a merged block, by the deploy names the families give it (rbr_reparam, reparam_conv, branch_reparam, fused_conv, dbb_reparam). */
const DEPLOY_CONV = /(^|[/._])(rbr_reparam|reparam_conv|branch_reparam|fused_conv|dbb_reparam|reparam)([/._]|$)/;

export function inspectOnnx(file: string, options: InspectOnnxOptions = {}): InspectReport {
  const model = readOnnx(file);
  try {
    assertRunnable(model.graph, model.opsets.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 13, file);
    return inspectGraph(file, model, options);
  } finally {
    model.close();
  }
}

function inspectGraph(file: string, model: OnnxModel, options: InspectOnnxOptions): InspectReport {
  const graph = model.graph;
  const opset = model.opsets.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 0;
  const rules: RuleOptions = { defaultEpsilon: options.bnEps, opset };
  const notes: string[] = [];
  const shapes = inputShapes(graph, options.inputShapes, notes);

  // Before: what the rules see on the untouched graph, read by the rules' own code.
  const at = new Map(graph.nodes.map((n, i) => [n, i]));
  const ctx = new RuleContext(graph, rules);
  const sums = findSites(ctx)
    .map((site) => ({ site, reading: readSite(ctx, site) }))
    .filter((s) => s.reading.blockLike);
  const names = blockNames(sums);
  const se = sums.map((s) => feedsSqueezeExcite(s.site.output));
  const pairs = foldConvBnRule.find(ctx).map((bn) => ({ conv: bn.input(0).producer!, bn }));
  const deployBlocks = graph.nodes.filter((n) => n.opType === 'Conv' && DEPLOY_CONV.test(n.name) && attributesWellTyped(n)).map(deployBlock);
  const before = graphCost(graph, shapes, opset);

  // The conversion, in memory; afterwards each site is either gone (merged) or still there with a reason.
  const reparam = reparameterize(graph, rules);
  const blocks = sums.map((s, i) => blockInfo(graph, s, names[i], se[i], rules));
  const inMerged = new Set(sums.filter((_, i) => blocks[i].merges).flatMap((s) => (s.reading.verdict.ok ? [...s.reading.verdict.plan.nodes] : [])));
  const after_ = new RuleContext(graph, rules);
  const folds: FoldInfo[] = pairs
    .filter((p) => !inMerged.has(p.bn))
    .map((p) => {
      const names = { conv: p.conv.name || p.conv.label, bn: p.bn.name || p.bn.label };
      if (p.bn.graph !== graph) return { ...names, folds: true };
      const v = foldConvBnRule.check(after_, p.bn);
      return { ...names, folds: false, reason: v.ok ? 'left unfolded' : v.reason };
    });
  const after = graphCost(graph, shapes, opset);

  // deploy: conversion would change nothing and no BatchNormalization is left (one that cannot fold, e.g. in
  // training mode, marks a training-time model). Blocks already merged are known by their names only.
  const changes = Object.values(reparam.merged).reduce((a, b) => a + b, 0);
  const trainingLeft = changes > 0 || (after.ops.BatchNormalization ?? 0) > 0;
  const form: ModelForm = !trainingLeft ? 'deploy' : deployBlocks.length ? 'mixed' : 'train';
  if (!trainingLeft && deployBlocks.length === 0 && blocks.length === 0) notes.push('no multi-branch blocks and nothing to fold: the model is already in deploy form, or is not a RepVGG-style model');
  const asInputs = convWeightsAllInputs(graph);
  if (asInputs > 0) notes.push(`every Conv weight (${asInputs}) is a graph input: the model was exported without its parameters (export_params=False), so nothing can merge`);
  if (shapes === undefined) notes.push('MACs not counted: the input shape is not fixed; give it with --input-shape');
  const uncounted = Math.max(after.uncounted.length, before.uncounted.length);
  if (shapes && uncounted) notes.push(`MACs of ${uncounted} node(s) not counted: their input shapes could not be worked out`);
  const placed = [...sums.map((s, i) => ({ block: blocks[i], at: at.get(s.site.root)! })), ...deployBlocks.map((b) => ({ block: b.block, at: at.get(b.node)! }))];
  return {
    file,
    format: 'onnx',
    form,
    onnx: onnxFacts(model),
    inputShapes: shapes ? Object.fromEntries(shapes) : null,
    blocks: placed.sort((a, b) => a.at - b.at).map((p) => p.block),
    folds,
    merged: reparam.merged,
    before,
    after,
    warnings: [...reparam.warnings],
    notes,
  };
}

function blockInfo(graph: Graph, s: { site: Site; reading: SiteReading }, name: string, se: boolean, rules: RuleOptions): BlockInfo {
  const r = s.reading;
  const common = {
    name,
    branches: r.branches,
    summary: summarizeBranches(r.branches),
    stride: r.verdict.ok ? [...r.verdict.plan.geometry.stride] : r.stride ?? null,
    groups: r.verdict.ok ? r.verdict.plan.geometry.group : r.group ?? null,
    identity: r.branches.some((x) => x.kind === 'bn' || x.kind === 'identity'),
    se,
  };
  const gone = [s.site.root, ...s.site.post].some((n) => n.graph !== graph);
  if (gone) {
    // The merged Conv takes over the site's output value.
    const out = graph.value(s.site.output.name);
    if (out?.producer?.opType === 'Conv') return { ...common, merges: true, kind: r.verdict.ok ? blockKind(r.verdict.plan.block) : 'merged' };
    return { ...common, merges: false, reason: 'removed: nothing reads its output' };
  }
  const now = findSites(new RuleContext(graph, rules)).find((x) => x.root === s.site.root);
  const v = now ? readSite(new RuleContext(graph, rules), now).verdict : r.verdict;
  return { ...common, merges: false, reason: v.ok ? 'left unmerged' : v.reason };
}

/** A Conv named as a merged block: reported as a block that is already one conv. */
function deployBlock(n: Node): { block: BlockInfo; node: Node } {
  const k = intsAttr(n.attributes, 'kernel_shape');
  const branches = [{ kind: 'conv', ...(k && k.length === 2 ? { kernel: [k[0], k[1]] as const } : {}) }];
  const parts = n.name.split('/').filter((p) => p);
  const cut = parts.findIndex((p) => DEPLOY_CONV.test(`/${p}/`));
  const block: BlockInfo = {
    name: cut > 0 ? parts[cut - 1] : n.name,
    branches,
    summary: summarizeBranches(branches),
    stride: intsAttr(n.attributes, 'strides') ?? [1, 1],
    groups: intAttr(n.attributes, 'group', 1),
    identity: false,
    se: feedsSqueezeExcite(n.outputs[0]),
    merges: false,
    kind: 'already one conv',
  };
  return { block, node: n };
}

/** Block names from their node scopes: the last scope ("stage1.0" of "/stage1/stage1.0/"), or the whole scope where that repeats. */
function blockNames(sums: readonly { site: Site; reading: SiteReading }[]): string[] {
  // Nodes of one block may share no scope (a module applied twice); the root Add's own scope names it then.
  const segments = (scope: string) => scope.split('/').filter((p) => p);
  const scopes = sums.map((s) => (segments(s.reading.prefix).length ? segments(s.reading.prefix) : segments(s.site.root.name).slice(0, -1)));
  const short = scopes.map((p) => p[p.length - 1] ?? '');
  const count = new Map<string, number>();
  short.forEach((n) => count.set(n, (count.get(n) ?? 0) + 1));
  return sums.map((s, i) => (short[i] && count.get(short[i]) === 1 ? short[i] : scopes[i].join('/') || s.site.output.name));
}

/** The shapes to count at: given ones, else the recorded ones with a dynamic batch of 1; undefined if any stays unknown. */
function inputShapes(graph: Graph, given: Readonly<Record<string, readonly number[]>> | undefined, notes: string[]): Map<string, Dims> | undefined {
  const inputs = graph.inputs.filter((v) => !v.initializer);
  const names = new Set(inputs.map((v) => v.name));
  for (const k of Object.keys(given ?? {})) {
    if (k !== '*' && !names.has(k)) throw new UserError(`--input-shape names ${k}, which is not an input of the model (inputs: ${[...names].join(', ')})`, { code: 'BAD_USAGE' });
  }
  const out = new Map<string, Dims>();
  let complete = true;
  inputs.forEach((v, i) => {
    const dims = v.type?.dims;
    const shape = given?.[v.name] ?? (i === 0 ? given?.['*'] : undefined);
    if (shape) {
      if (dims && dims.length !== shape.length) throw new UserError(`--input-shape ${shape.join('x')} has ${shape.length} dims, input ${v.name} has ${dims.length}`, { code: 'BAD_USAGE' });
      dims?.forEach((d, k) => {
        if (typeof d === 'number' && d > 0 && d !== shape[k]) throw new UserError(`--input-shape ${shape.join('x')} does not fit ${v.name}, whose dim ${k} is fixed at ${d}`, { code: 'BAD_USAGE' });
      });
      out.set(v.name, shape);
      return;
    }
    if (!dims) {
      complete = false;
      notes.push(`input ${v.name} has no recorded shape`);
      return;
    }
    const fixed = dims.map((d, k) => (typeof d === 'number' && d > 0 ? d : k === 0 ? 1 : undefined));
    if (fixed.some((d) => d === undefined)) {
      complete = false;
      notes.push(`input ${v.name} has dynamic dims [${dims.map((d) => d ?? '?').join(', ')}]`);
      return;
    }
    out.set(v.name, fixed as number[]);
  });
  return complete ? out : undefined;
}

function onnxFacts(model: OnnxModel): OnnxFacts {
  const g = model.graph;
  return {
    irVersion: model.irVersion,
    opsets: model.opsets,
    producer: model.producer,
    producerVersion: producerVersion(model),
    inputs: g.inputs.filter((v) => !v.initializer).map((v) => ({ name: v.name, dims: v.type?.dims ? v.type.dims.map((d) => d ?? null) : null })),
    outputs: g.outputs.map((v) => v.name),
  };
}

function producerVersion(model: OnnxModel): string {
  const f = [...model.modelFields].reverse().find((x) => x.no === ModelField.producerVersion);
  if (!f || !('kind' in f.part) || f.part.kind !== 'range') return '';
  const r = new ProtoReader(f.part.range.source);
  const field = last(r.fields(f.part.range.offset, f.part.range.offset + f.part.range.length), ModelField.producerVersion);
  return field ? r.string(field) : '';
}
