// Linear regions built here op by op, as exporters write them, converted and checked in onnxruntime
// against the graph they came from: constant summands, two blocks under one node scope, a BN after the
// sum, a 1x1 → BN → padded 3x3 chain, average-pool branches (padding counted, or made by a border
// assignment), ACNet's cropped branches, and a region that is not a conv (padding after a bias).
import * as fs from 'fs';
import * as path from 'path';
import { convert } from '../../src/api/convert';
import { UserError } from '../../src/errors';
import { readOnnx } from '../../src/formats/onnx/read';
import { Value } from '../../src/ir/graph';
import * as pipeline from '../../src/rules/pipeline';
import { int64Tensor } from '../../src/checkpoint/onnx-graph';
import { tensorFromArray } from '../../src/tensor';
import { tempDir } from '../helpers/fixtures';
import { Rng, rng } from '../helpers/random';
import { Built, builder, int, ints } from '../inspect/graphs';

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const C = 6;
const H = 9;

function bn(b: Built, r: Rng, scope: string, x: Value, c = C): Value {
  const p = (n: string, lo: number, hi: number) => b.g.constant(`${scope}.${n}`, tensorFromArray([c], r.floats(c, lo, hi)));
  return b.g.op(scope, 'BatchNormalization', [x, p('weight', 0.5, 1.5), p('bias', -0.5, 0.5), p('mean', -0.5, 0.5), p('var', 0.2, 2)], [{ name: 'epsilon', value: { type: 'float', value: 1e-5 } }]);
}

function conv(b: Built, scope: string, x: Value, o: number, i: number, k: readonly [number, number], pads: readonly number[], extra: { group?: number; stride?: number; bias?: boolean } = {}): Value {
  const g = extra.group ?? 1;
  const inputs = [x, b.weight(`${scope}.weight`, [o, i / g, k[0], k[1]])];
  if (extra.bias) inputs.push(b.weight(`${scope}.bias`, [o]));
  const s = extra.stride ?? 1;
  return b.g.op(scope, 'Conv', inputs, [ints('kernel_shape', [...k]), ints('pads', [...pads]), ints('strides', [s, s]), int('group', g)]);
}

/** Converts the model (verified in onnxruntime) and gives the output's op counts. */
async function converted(file: string): Promise<{ ops: Record<string, number>; merged: Record<string, number>; names: string[] }> {
  const out = file.replace(/\.onnx$/, '-deploy.onnx');
  const res = await convert(file, out);
  expect(res.verify?.ok).toBe(true);
  const m = readOnnx(out);
  try {
    return { ops: pipeline.opHistogram(m.graph), merged: { ...res.reparam!.merged }, names: m.graph.nodes.map((n) => n.name) };
  } finally {
    m.close();
  }
}

test('constant summands (`+ 0` first, in the middle, and after convs with a bias) fold into the bias', async () => {
  const b = builder(rng(1));
  const zero = () => b.g.constant('zero', tensorFromArray([], Float32Array.of(0)));
  const half = b.g.constant('half', tensorFromArray([1, C, 1, 1], rng(9).floats(C)));
  let s = b.g.op('/blk', 'Add', [zero(), bn(b, rng(2), '/blk/a/bn', conv(b, '/blk/a/conv', b.x, C, C, [3, 3], [1, 1, 1, 1]))]);
  s = b.g.op('/blk', 'Add', [s, conv(b, '/blk/b/conv', b.x, C, C, [1, 1], [0, 0, 0, 0], { bias: true })]);
  s = b.g.op('/blk', 'Add', [s, half]);
  const y = b.g.op('/blk', 'Relu', [s]);
  const r = await converted(b.write(dir, 'zero.onnx', [1, C, H, H], [[y, 4]]));
  expect(r.ops).toEqual({ Conv: 1, Relu: 1 });
  expect(r.merged).toEqual({ 'RepVGG 2-branch': 1 });
});

test('two blocks under one node scope get two node names, and onnxruntime loads the result', async () => {
  const b = builder(rng(3));
  const block = (x: Value, k: number, group: number) => {
    const branches = [0, 1, 2].map((i) => bn(b, rng(10 + i + k), '/mob/bn', conv(b, '/mob/conv', x, C, C, [k, k], Array(4).fill(k >> 1), { group })));
    return branches.reduce((s, v) => b.g.op('/mob', 'Add', [s, v]));
  };
  const y = b.g.op('/mob', 'Relu', [block(b.g.op('/mob', 'Relu', [block(b.x, 3, C)]), 1, 1)]);
  const r = await converted(b.write(dir, 'two.onnx', [1, C, H, H], [[y, 4]]));
  expect(r.ops).toEqual({ Conv: 2, Relu: 2 });
  expect(r.names.filter((n) => n.includes('rbr_reparam')).sort()).toEqual(['/mob/rbr_reparam/Conv', '/mob/rbr_reparam/Conv_1']);
});

test('a BatchNormalization after the sum (QARepVGG) merges with the block', async () => {
  const b = builder(rng(4));
  const dense = bn(b, rng(5), '/qa/rbr_dense/bn', conv(b, '/qa/rbr_dense/conv', b.x, C, C, [3, 3], [1, 1, 1, 1]));
  const one = conv(b, '/qa/rbr_1x1', b.x, C, C, [1, 1], [0, 0, 0, 0]);
  const sum = b.g.op('/qa', 'Add', [b.g.op('/qa', 'Add', [dense, one]), b.x]);
  const y = b.g.op('/qa', 'Relu', [bn(b, rng(6), '/qa/bn', sum)]);
  const r = await converted(b.write(dir, 'qa.onnx', [1, C, H, H], [[y, 4]]));
  expect(r.ops).toEqual({ Conv: 1, Relu: 1 });
  expect(r.merged).toEqual({ QARepVGG: 1 });
});

/** DiverseBranchBlock's branches: origin kxk, 1x1, 1x1 → BN → border-filled pad → avg pool → BN, idconv 1x1 → BN → border-filled pad → kxk → BN. */
function dbb(b: Built, r: Rng, x: Value, stride: number, border: 'pad' | 'scatter' | 'partial'): Value {
  const origin = bn(b, r, '/dbb/dbb_origin/bn', conv(b, '/dbb/dbb_origin/conv', x, C, C, [3, 3], [1, 1, 1, 1], { stride }));
  const one = bn(b, r, '/dbb/dbb_1x1/bn', conv(b, '/dbb/dbb_1x1/conv', x, C, C, [1, 1], [0, 0, 0, 0], { stride }));
  // BNAndPad: pad the BN's output with what it gives for 0, written as Pad + four border assignments.
  const padBn = (scope: string, y: Value, rr: Rng): Value => {
    const gamma = rr.floats(C, 0.5, 1.5);
    const beta = rr.floats(C, -0.5, 0.5);
    const mean = rr.floats(C, -0.5, 0.5);
    const variance = rr.floats(C, 0.2, 2);
    const p = (n: string, v: Float32Array) => b.g.constant(`${scope}.${n}`, tensorFromArray([C], v));
    const z = b.g.op(scope, 'BatchNormalization', [y, p('weight', gamma), p('bias', beta), p('mean', mean), p('var', variance)], [{ name: 'epsilon', value: { type: 'float', value: 1e-5 } }]);
    const fill = Float32Array.from({ length: C }, (_, c) => beta[c] - (mean[c] * gamma[c]) / Math.sqrt(variance[c] + 1e-5));
    if (border === 'pad') {
      // The same values written as a Pad whose constant is per channel cannot be one Pad; emulate with Sub/Pad/Add.
      const shifted = b.g.op(scope, 'Sub', [z, b.g.constant(`${scope}.fill`, tensorFromArray([1, C, 1, 1], fill))]);
      const padded = b.g.op(scope, 'Pad', [shifted, b.g.constant(`${scope}.pads`, int64Tensor([0, 0, 1, 1, 0, 0, 1, 1]))]);
      return b.g.op(scope, 'Add', [padded, b.g.constant(`${scope}.fill2`, tensorFromArray([1, C, 1, 1], fill))]);
    }
    const padded = b.g.op(scope, 'Pad', [z, b.g.constant(`${scope}.pads`, int64Tensor([0, 0, 1, 1, 0, 0, 1, 1]))]);
    const hp = H + 2;
    const ring: number[][] = [];
    for (let c = 0; c < C; c++) for (let yy = 0; yy < hp; yy++) for (let xx = 0; xx < hp; xx++) if (yy === 0 || xx === 0 || yy === hp - 1 || xx === hp - 1) ring.push([0, c, yy, xx]);
    // Two writes: the top and bottom rows, then the rest of the ring.
    const parts = [ring.filter(([, , yy]) => yy === 0 || yy === hp - 1), ring.filter(([, , yy]) => yy !== 0 && yy !== hp - 1)].slice(0, border === 'partial' ? 1 : 2);
    let v = padded;
    parts.forEach((part, i) => {
      const idx = b.g.constant(`${scope}.idx${i}`, { ...int64Tensor(part.flat()), shape: [part.length, 4] });
      const upd = b.g.constant(`${scope}.upd${i}`, tensorFromArray([part.length], Float32Array.from(part, ([, c]) => fill[c])));
      v = b.g.op(scope, 'ScatterND', [v, idx, upd]);
    });
    return v;
  };
  const avgIn = padBn('/dbb/dbb_avg/bn', conv(b, '/dbb/dbb_avg/conv', x, C, C, [1, 1], [0, 0, 0, 0]), r);
  const avg = bn(b, r, '/dbb/dbb_avg/avgbn', b.g.op('/dbb/dbb_avg/avg', 'AveragePool', [avgIn], [ints('kernel_shape', [3, 3]), ints('strides', [stride, stride]), ints('pads', [0, 0, 0, 0])]));
  // idconv1: weight + identity, computed in the graph.
  const id = new Float32Array(C * C);
  for (let c = 0; c < C; c++) id[c * C + c] = 1;
  const k1 = b.g.op('/dbb/dbb_1x1_kxk/idconv1', 'Add', [b.weight('/dbb.idconv1.weight', [C, C, 1, 1]), b.g.constant('/dbb.id', tensorFromArray([C, C, 1, 1], id))]);
  const first = b.g.op('/dbb/dbb_1x1_kxk/idconv1', 'Conv', [x, k1], [ints('kernel_shape', [1, 1]), ints('pads', [0, 0, 0, 0])]);
  const kxk = bn(b, r, '/dbb/dbb_1x1_kxk/bn2', conv(b, '/dbb/dbb_1x1_kxk/conv2', padBn('/dbb/dbb_1x1_kxk/bn1', first, r), C, C, [3, 3], [0, 0, 0, 0], { stride }));
  return [one, avg, kxk].reduce((s, v) => b.g.op('/dbb', 'Add', [s, v]), origin);
}

test.each([
  ['border assignments (ScatterND)', 'scatter', 1],
  ['border assignments, stride 2', 'scatter', 2],
  ['a pad of the shifted map', 'pad', 1],
] as const)('DiverseBranchBlock with BNAndPad as %s merges into one 3x3 conv', async (_what, border, stride) => {
  const b = builder(rng(20 + stride));
  const y = b.g.op('/dbb', 'Relu', [dbb(b, rng(21), b.x, stride, border)]);
  const r = await converted(b.write(dir, `dbb-${border}-${stride}.onnx`, [1, C, H, H], [[y, 4]]));
  expect(r.ops).toEqual({ Conv: 1, Relu: 1 });
  expect(r.merged).toEqual({ DBB: 1 });
});

test('a border assignment that leaves part of the ring at zero is not a pad of the input: the block stays, and verifies', async () => {
  const b = builder(rng(22));
  const y = b.g.op('/dbb', 'Relu', [dbb(b, rng(21), b.x, 1, 'partial')]);
  const file = b.write(dir, 'dbb-partial.onnx', [1, C, H, H], [[y, 4]]);
  const res = await convert(file, path.join(dir, 'dbb-partial-deploy.onnx'));
  expect(res.verify?.ok).toBe(true);
  expect(res.reparam!.merged.DBB).toBeUndefined();
  expect(res.reparam!.refusals.map((x) => x.reason).join('\n')).toMatch(/not linear in the same input/);
});

test('an average pool beside the convs (QARepVGGv2): padding counted merges; padding not counted is refused', async () => {
  for (const count of [1, 0]) {
    const b = builder(rng(30));
    const dense = bn(b, rng(31), '/v2/dense/bn', conv(b, '/v2/dense/conv', b.x, C, C, [3, 3], [1, 1, 1, 1]));
    const avg = b.g.op('/v2/avg', 'AveragePool', [b.x], [ints('kernel_shape', [3, 3]), ints('pads', [1, 1, 1, 1]), ints('strides', [1, 1]), int('count_include_pad', count)]);
    const y = b.g.op('/v2', 'Relu', [bn(b, rng(32), '/v2/bn', b.g.op('/v2', 'Add', [dense, avg]))]);
    const file = b.write(dir, `v2-${count}.onnx`, [1, C, H, H], [[y, 4]]);
    if (count) {
      expect((await converted(file)).ops).toEqual({ Conv: 1, Relu: 1 });
    } else {
      const res = await convert(file, path.join(dir, 'v2-0-deploy.onnx'));
      expect(res.reparam!.refusals.map((x) => x.reason).join('\n')).toMatch(/average pool whose padding does not count/);
    }
  }
});

test("ACNet's cropped branches (padding 0: the 3x1 reads the centre column, the 1x3 the centre row) merge exactly", async () => {
  const b = builder(rng(40));
  const crop = (axis: number) => b.g.op('/acb', 'Slice', [b.x, b.g.constant(`s${axis}`, int64Tensor([1])), b.g.constant(`e${axis}`, int64Tensor([-1])), b.g.constant(`a${axis}`, int64Tensor([axis]))]);
  const square = bn(b, rng(41), '/acb/square_bn', conv(b, '/acb/square_conv', b.x, C, C, [3, 3], [0, 0, 0, 0]));
  const ver = bn(b, rng(42), '/acb/ver_bn', conv(b, '/acb/ver_conv', crop(3), C, C, [3, 1], [0, 0, 0, 0]));
  const hor = bn(b, rng(43), '/acb/hor_bn', conv(b, '/acb/hor_conv', crop(2), C, C, [1, 3], [0, 0, 0, 0]));
  const y = b.g.op('/acb', 'Relu', [b.g.op('/acb', 'Add', [b.g.op('/acb', 'Add', [square, ver]), hor])]);
  const r = await converted(b.write(dir, 'acnet-crop.onnx', [1, C, H, H], [[y, 4]]));
  expect(r.ops).toEqual({ Conv: 1, Relu: 1 });
  expect(r.merged).toEqual({ ACNet: 1 });
});

test('a zero pad after a biased step is not the input\'s padding: refused with the reason, the output still verifies', async () => {
  const b = builder(rng(50));
  const first = bn(b, rng(51), '/bad/bn1', conv(b, '/bad/conv1', b.x, C, C, [1, 1], [0, 0, 0, 0]));
  const second = conv(b, '/bad/conv2', first, C, C, [3, 3], [1, 1, 1, 1]);
  const y = b.g.op('/bad', 'Relu', [b.g.op('/bad', 'Add', [second, conv(b, '/bad/conv3', b.x, C, C, [3, 3], [1, 1, 1, 1])])]);
  const res = await convert(b.write(dir, 'bias-pad.onnx', [1, C, H, H], [[y, 4]]), path.join(dir, 'bias-pad-deploy.onnx'));
  expect(res.verify?.ok).toBe(true);
  expect(res.reparam!.refusals.map((x) => x.reason).join('\n')).toMatch(/zero-pads after steps that give .* for a zero input/);
});

test('a deploy model our rules make that onnxruntime refuses is an internal error, not the input\'s fault', async () => {
  const b = builder(rng(60));
  const y = b.g.op('/blk', 'Relu', [b.g.op('/blk', 'Add', [conv(b, '/blk/a', b.x, C, C, [3, 3], [1, 1, 1, 1]), conv(b, '/blk/b', b.x, C, C, [1, 1], [0, 0, 0, 0])])]);
  const file = b.write(dir, 'broken.onnx', [1, C, H, H], [[y, 4]]);
  const real = pipeline.reparameterize;
  // A rule that named two nodes alike: the model onnxruntime is given has a duplicate node name.
  const spy = jest.spyOn(pipeline, 'reparameterize').mockImplementation((graph, options) => {
    const report = real(graph, options);
    const relu = graph.nodes.find((n) => n.opType === 'Relu')!;
    const conv0 = graph.nodes.find((n) => n.opType === 'Conv')!;
    graph.insertNode({ opType: 'Identity', name: relu.name, inputs: [conv0.outputs[0]], outputs: ['twin'] });
    graph.addGraphOutput(graph.value('twin')!);
    return report;
  });
  try {
    const e = await convert(file, path.join(dir, 'broken-deploy.onnx')).then(() => undefined, (x: unknown) => x as Error);
    expect(e).toBeInstanceOf(Error);
    expect(e).not.toBeInstanceOf(UserError);
    expect(e!.message).toMatch(/onnxruntime refuses the deploy model this conversion made \(.*broken-deploy\.onnx\)/);
    expect(fs.existsSync(path.join(dir, 'broken-deploy.onnx'))).toBe(false);
  } finally {
    spy.mockRestore();
  }
});
