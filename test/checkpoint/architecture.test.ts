// Architecture inference: published RepVGG models are named from their shapes alone, strides follow the
// convention unless an identity branch says otherwise, and the ONNX built from weights has the expected ops.
import * as path from 'path';
import { buildDeployOnnx, buildTrainOnnx, convertStateDict, inferArchitecture } from '../../src/checkpoint';
import { readSafetensors } from '../../src/formats/safetensors';
import { StateDict } from '../../src/formats/state-dict';
import { Tensor } from '../../src/tensor';
import { FIXTURES } from '../helpers/fixtures';
import { rng } from '../helpers/random';
import { syntheticClassifier, withTensor } from './synthetic';

/** A tensor that only has a shape: inference must never read it. */
const shapeOnly = (shape: number[]): Tensor => ({
  dtype: 'float32',
  shape,
  data: { kind: 'lazy', compute: () => { throw new Error('architecture inference read a value'); } },
});

/**
 * Keys and shapes of a RepVGG / RepVGGplus model written from the published numbers: stem width, then
 * stages of [blocks, width]; `groups(layer)` for the layer index (stage1.0 is layer 1).
 */
function publishedModel(o: { stem: number; stages: [string, number, number][]; groups?: (layer: number) => number; se?: (c: number) => number; plus?: boolean }): StateDict {
  const t = new Map<string, Tensor>();
  const block = (name: string, cin: number, cout: number, stride: number, groups: number) => {
    const se = o.se?.(cout);
    if (se) {
      const m = `${name}.${o.plus ? 'post_se' : 'se'}`;
      t.set(`${m}.down.weight`, shapeOnly([se, cout, 1, 1])).set(`${m}.down.bias`, shapeOnly([se]));
      t.set(`${m}.up.weight`, shapeOnly([cout, se, 1, 1])).set(`${m}.up.bias`, shapeOnly([cout]));
    }
    const bn = (p: string, c: number) => ['weight', 'bias', 'running_mean', 'running_var'].forEach((l) => t.set(`${p}.${l}`, shapeOnly([c])));
    if (cin === cout && stride === 1) bn(`${name}.rbr_identity`, cout);
    for (const [branch, k] of [['rbr_dense', 3], ['rbr_1x1', 1]] as const) {
      t.set(`${name}.${branch}.conv.weight`, shapeOnly([cout, cin / groups, k, k]));
      bn(`${name}.${branch}.bn`, cout);
    }
  };
  block('stage0', 3, o.stem, 2, 1);
  let cin = o.stem;
  let layer = 1;
  for (const [stage, n, width] of o.stages) {
    for (let i = 0; i < n; i++, layer++) {
      const stride = i === 0 && stage !== 'stage3_second' ? 2 : 1;
      block(o.plus ? `${stage}.blocks.${i}` : `${stage}.${i}`, cin, width, stride, o.groups?.(layer) ?? 1);
      cin = width;
    }
  }
  t.set('linear.weight', shapeOnly([1000, cin])).set('linear.bias', shapeOnly([1000]));
  return { tensors: t, metadata: {}, notes: [] };
}

const evenLayers = (g: number) => (layer: number) => (layer % 2 === 0 && layer <= 26 ? g : 1);

test.each([
  ['RepVGG-A0', publishedModel({ stem: 48, stages: [['stage1', 2, 48], ['stage2', 4, 96], ['stage3', 14, 192], ['stage4', 1, 1280]] })],
  ['RepVGG-A2', publishedModel({ stem: 64, stages: [['stage1', 2, 96], ['stage2', 4, 192], ['stage3', 14, 384], ['stage4', 1, 1408]] })],
  ['RepVGG-B0', publishedModel({ stem: 64, stages: [['stage1', 4, 64], ['stage2', 6, 128], ['stage3', 16, 256], ['stage4', 1, 1280]] })],
  ['RepVGG-B1g4', publishedModel({ stem: 64, stages: [['stage1', 4, 128], ['stage2', 6, 256], ['stage3', 16, 512], ['stage4', 1, 2048]], groups: evenLayers(4) })],
  ['RepVGG-B2g2', publishedModel({ stem: 64, stages: [['stage1', 4, 160], ['stage2', 6, 320], ['stage3', 16, 640], ['stage4', 1, 2560]], groups: evenLayers(2) })],
  ['RepVGG-B3', publishedModel({ stem: 64, stages: [['stage1', 4, 192], ['stage2', 6, 384], ['stage3', 16, 768], ['stage4', 1, 2560]] })],
  ['RepVGG-D2se', publishedModel({ stem: 64, stages: [['stage1', 8, 160], ['stage2', 14, 320], ['stage3', 24, 640], ['stage4', 1, 2560]], se: (c) => Math.floor(c / 16) })],
  [
    'RepVGGplus-L2pse',
    publishedModel({ stem: 64, stages: [['stage1', 8, 160], ['stage2', 14, 320], ['stage3_first', 12, 640], ['stage3_second', 12, 640], ['stage4', 1, 2560]], se: (c) => Math.floor(c / 4), plus: true }),
  ],
])('%s is named from its shapes', (name, sd) => {
  const arch = inferArchitecture(sd);
  expect(arch.name).toBe(name);
  expect(arch.nameFrom).toBe('matched');
  expect(arch.head).toMatchObject({ classes: 1000 });
  expect(inferArchitecture(sd, { arch: name }).nameFrom).toBe('forced');
});

test('grouped and plain variants of one width are told apart, and a forced name must fit', () => {
  const b1 = publishedModel({ stem: 64, stages: [['stage1', 4, 128], ['stage2', 6, 256], ['stage3', 16, 512], ['stage4', 1, 2048]] });
  expect(inferArchitecture(b1).name).toBe('RepVGG-B1');
  expect(inferArchitecture(b1, { arch: 'b1' }).nameFrom).toBe('forced');
  expect(() => inferArchitecture(b1, { arch: 'RepVGG-B1g2' })).toThrow(/not RepVGG-B1g2: stage 1 block 1 has 2 groups/);
  expect(() => inferArchitecture(b1, { arch: 'RepVGG-Z9' })).toThrow(/unknown architecture/);
});

test('a tiny model has no published name; strides follow the convention', () => {
  const net = syntheticClassifier(rng(41), 'official');
  const arch = inferArchitecture(net.sd);
  expect(arch.name).toBeUndefined();
  expect(arch.blocks.every((b) => b.strideFrom === 'convention')).toBe(true);
  expect(arch.blocks[0].stride).toBe(2);
});

test('a stage that starts with an identity branch has stride 1', () => {
  const sd = publishedModel({ stem: 8, stages: [['stage1', 2, 8], ['stage2', 2, 16]] });
  const t = new Map(sd.tensors);
  // stage1.0 keeps its width (8 → 8): give it the identity branch a stride-1 block would have.
  for (const l of ['weight', 'bias', 'running_mean', 'running_var']) t.set(`stage1.0.rbr_identity.${l}`, shapeOnly([8]));
  const arch = inferArchitecture({ ...sd, tensors: t });
  const b = arch.blocks.find((x) => x.name === 'stage1.0')!;
  expect(b).toMatchObject({ stride: 1, strideFrom: 'identity branch', identity: true });
  expect(arch.notes.join('\n')).toMatch(/stage1\.0.*stride is 1/);
});

test('a backbone without head ends at its last block, and keys around it are listed', () => {
  const net = syntheticClassifier(rng(42), 'official', { withSe: false });
  const nested = new Map<string, Tensor>();
  for (const [k, v] of net.sd.tensors) if (!k.startsWith('linear.')) nested.set(`backbone.${k}`, v);
  nested.set('decode_head.conv.weight', shapeOnly([2, net.blocks[net.blocks.length - 1].outChannels, 1, 1]));
  const sd: StateDict = { tensors: nested, metadata: {}, notes: [] };
  const arch = inferArchitecture(sd);
  expect(arch.root).toBe('backbone.');
  expect(arch.head).toBeUndefined();
  expect(arch.unusedKeys).toEqual(['decode_head.conv.weight']);
  const model = buildDeployOnnx(arch, convertStateDict(sd).tensors, { inputShape: net.inputShape });
  expect(model.graph.outputs.map((v) => v.name)).toEqual(['output']);
  expect(model.graph.outputs[0].producer!.opType).toBe('Relu');
});

test('detector schemes convert but have no architecture', () => {
  const sd = readSafetensors(path.join(FIXTURES, 'ckpt', 'yolov7', 'train.safetensors'));
  expect(() => inferArchitecture(sd)).toThrow(/detector/);
});

test('RepVGGplus aux heads are left out of the graph and said so', () => {
  const sd = readSafetensors(path.join(FIXTURES, 'ckpt', 'repvggplus', 'train.safetensors'));
  const arch = inferArchitecture(sd);
  expect(arch.unusedKeys.length).toBeGreaterThan(0);
  expect(arch.unusedKeys.every((k) => /_aux\./.test(k))).toBe(true);
  const { report } = convertStateDict(sd);
  expect(report.notes.join('\n')).toMatch(/auxiliary heads/);
});

describe('ONNX built from official-g2-se weights', () => {
  const sd = readSafetensors(path.join(FIXTURES, 'ckpt', 'official-g2-se', 'train.safetensors'));
  const arch = inferArchitecture(sd);
  const histogram = (ops: readonly { opType: string }[]) => ops.reduce<Record<string, number>>((h, n) => ({ ...h, [n.opType]: (h[n.opType] ?? 0) + 1 }), {});

  test('the deploy graph has PyTorch’s op structure: one Conv per block, SE ops, GAP, Flatten, Gemm', () => {
    const model = buildDeployOnnx(arch, convertStateDict(sd).tensors, { inputShape: [1, 3, 32, 32] });
    const n = arch.blocks.length;
    expect(histogram(model.graph.nodes)).toEqual({ Conv: 3 * n, Relu: 2 * n, AveragePool: n, Sigmoid: n, Reshape: n, Mul: n, GlobalAveragePool: 1, Flatten: 1, Gemm: 1 });
    expect(model.graph.inputs.map((v) => v.name)).toEqual(['input']);
    expect(model.opsets).toEqual([{ domain: '', version: 13 }]);
    expect(model.graph.nodes[0].name).toBe('/stage0/rbr_reparam/Conv');
  });

  test('the train graph keeps every branch with its BatchNormalization', () => {
    const model = buildTrainOnnx(arch, sd, { inputShape: [1, 3, 32, 32], opset: 17 });
    const h = histogram(model.graph.nodes);
    const identities = arch.blocks.filter((b) => b.identity).length;
    expect(h.BatchNormalization).toBe(2 * arch.blocks.length + identities);
    expect(h.Add).toBe(arch.blocks.length + identities);
    expect(model.opsets).toEqual([{ domain: '', version: 17 }]);
    const bn = model.graph.nodes.find((x) => x.opType === 'BatchNormalization')!;
    expect(bn.inputs.map((v) => v?.name)).toEqual(['/stage0/rbr_dense/conv/Conv_output_0', 'stage0.rbr_dense.bn.weight', 'stage0.rbr_dense.bn.bias', 'stage0.rbr_dense.bn.running_mean', 'stage0.rbr_dense.bn.running_var']);
  });

  test('input shapes and opsets it cannot honour are refused', () => {
    const { tensors } = convertStateDict(sd);
    expect(() => buildDeployOnnx(arch, tensors, { inputShape: [1, 4, 32, 32] })).toThrow(/4 channels but the stem takes 3/);
    expect(() => buildDeployOnnx(arch, tensors, { inputShape: [1, 3, 64, 16] })).toThrow(/window/);
    expect(() => buildDeployOnnx(arch, tensors, { inputShape: [1, 3, 32] })).toThrow(/N x C x H x W/);
    expect(() => buildDeployOnnx(arch, tensors, { inputShape: [1, 3, 32, 32], opset: 7 })).toThrow(/opset 7/);
    expect(() => buildDeployOnnx(arch, withTensor({ tensors, metadata: {}, notes: [] }, 'stage1.0.rbr_reparam.bias', undefined).tensors, { inputShape: [1, 3, 32, 32] })).toThrow(
      /no 'stage1.0.rbr_reparam.bias'/,
    );
  });
});

/**
 * Keys and shapes of apple's or timm's MobileOne written from the published numbers: width multipliers,
 * k conv branches (S0: 4), SE in the second half of stage 3 and in stage 4 (S4).
 */
function mobileOne(o: { wm: [number, number, number, number]; k: number; se?: boolean; timm?: boolean }): StateDict {
  const t = new Map<string, Tensor>();
  const names = o.timm ? { skip: 'identity', convs: 'conv_kxk', scale: 'conv_scale', se: 'attn', down: 'fc1', up: 'fc2' } : { skip: 'rbr_skip', convs: 'rbr_conv', scale: 'rbr_scale', se: 'se', down: 'reduce', up: 'expand' };
  const bn = (p: string, c: number) => ['weight', 'bias', 'running_mean', 'running_var'].forEach((l) => t.set(`${p}.${l}`, shapeOnly([c])));
  const block = (name: string, cin: number, cout: number, k: number, stride: number, groups: number, branches: number, se: boolean) => {
    if (cin === cout && stride === 1) bn(`${name}.${names.skip}`, cout);
    for (let i = 0; i < branches; i++) {
      t.set(`${name}.${names.convs}.${i}.conv.weight`, shapeOnly([cout, cin / groups, k, k]));
      bn(`${name}.${names.convs}.${i}.bn`, cout);
    }
    if (k > 1) {
      t.set(`${name}.${names.scale}.conv.weight`, shapeOnly([cout, cin / groups, 1, 1]));
      bn(`${name}.${names.scale}.bn`, cout);
    }
    if (se) {
      const r = Math.floor(cout * 0.0625);
      t.set(`${name}.${names.se}.${names.down}.weight`, shapeOnly([r, cout, 1, 1])).set(`${name}.${names.se}.${names.down}.bias`, shapeOnly([r]));
      t.set(`${name}.${names.se}.${names.up}.weight`, shapeOnly([cout, r, 1, 1])).set(`${name}.${names.se}.${names.up}.bias`, shapeOnly([cout]));
    }
  };
  let cin = Math.min(64, Math.floor(64 * o.wm[0]));
  block(o.timm ? 'stem' : 'stage0', 3, cin, 3, 2, 1, 1, false);
  [2, 8, 10, 1].forEach((n, s) => {
    const planes = Math.floor([64, 128, 256, 512][s] * o.wm[s]);
    const seFrom = o.se ? (s === 2 ? n - Math.floor(n / 2) : s === 3 ? 0 : n) : n;
    for (let i = 0; i < n; i++) {
      const stage = o.timm ? `stages.${s}` : `stage${s + 1}`;
      block(`${stage}.${2 * i}`, cin, cin, 3, i === 0 ? 2 : 1, cin, o.k, i >= seFrom);
      block(`${stage}.${2 * i + 1}`, cin, planes, 1, 1, 1, o.k, i >= seFrom);
      cin = planes;
    }
  });
  const head = o.timm ? 'head.fc' : 'linear';
  t.set(`${head}.weight`, shapeOnly([1000, cin])).set(`${head}.bias`, shapeOnly([1000]));
  return { tensors: t, metadata: {}, notes: [] };
}

test.each([
  ['MobileOne-S0', { wm: [0.75, 1, 1, 2], k: 4 }],
  ['MobileOne-S1', { wm: [1.5, 1.5, 2, 2.5], k: 1 }],
  ['MobileOne-S2', { wm: [1.5, 2, 2.5, 4], k: 1 }],
  ['MobileOne-S3', { wm: [2, 2.5, 3, 4], k: 1 }],
  ['MobileOne-S4', { wm: [3, 3.5, 3.5, 4], k: 1, se: true }],
] as const)('%s (apple and timm keys) is named from its shapes, with its strides and depthwise groups', (name, o) => {
  for (const timm of [false, true]) {
    const arch = inferArchitecture(mobileOne({ ...o, wm: [...o.wm], timm }));
    expect(arch.name).toBe(name);
    expect(arch.scheme).toBe(timm ? 'mobileone-timm' : 'mobileone-apple');
    // 1 stem + 2 × (2 + 8 + 10 + 1) blocks; the first depthwise block of each stage strides.
    expect(arch.blocks).toHaveLength(43);
    expect(arch.blocks.filter((b) => b.stride === 2)).toHaveLength(5);
    const dw = arch.blocks.filter((b) => b.kernel[0] === 3).slice(1);
    expect(dw.every((b) => b.groups === b.inChannels)).toBe(true);
    expect(arch.blocks.filter((b) => b.se).length).toBe('se' in o && o.se ? 12 : 0);
  }
});

test('MobileOne named the wrong size is refused with the first difference', () => {
  expect(() => inferArchitecture(mobileOne({ wm: [1.5, 1.5, 2, 2.5], k: 1 }), { arch: 'mobileone-s2' })).toThrow(/the weights are not MobileOne-S2: .* wide in MobileOne-S2/);
  expect(() => inferArchitecture(mobileOne({ wm: [1.5, 1.5, 2, 2.5], k: 1 }), { arch: 'RepVGG-A0' })).toThrow(/RepVGG-A0 is a repvgg model/);
});
