// The shape propagator and the MAC count against onnxruntime itself: seeded random Conv, pool, Concat,
// Resize, Reshape, Flatten and Gemm settings, then the other ops the propagator follows; every intermediate
// is made a graph output so that onnxruntime reports its shape.
import * as fs from 'fs';
import * as ort from 'onnxruntime-node';
import { graphCost, propagateShapes } from '../../src/inspect';
import { readOnnx } from '../../src/formats/onnx/read';
import { int64Tensor } from '../../src/checkpoint/onnx-graph';
import { tensorFromArray } from '../../src/tensor';
import { tempDir } from '../helpers/fixtures';
import { SEEDS, forSeeds, Rng, rng } from '../helpers/random';
import { numel } from '../../src/dtype';
import { builder, int, ints } from './graphs';

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

interface Case {
  readonly file: string;
  readonly input: readonly number[];
  /** Conv MACs by the formula, from onnxruntime's output shape. */
  readonly convMacs: (convOut: readonly number[]) => number;
  readonly gemmMacs: number;
}

/** x → Conv → pool → Concat(·,·) → Resize ×2 (scales from a Concat of Constants) → Reshape, and → GlobalAveragePool → Flatten → Gemm. */
function randomCase(r: Rng): Case {
  const b = builder(r);
  const { g } = b;
  const groups = r.pick([1, 2]);
  const cin = groups * r.int(1, 3);
  const cout = groups * r.int(1, 3);
  const [kh, kw] = [r.pick([1, 2, 3, 5]), r.pick([1, 2, 3, 5])];
  const [sh, sw] = [r.int(1, 3), r.int(1, 3)];
  const [dh, dw] = [r.int(1, 2), r.int(1, 2)];
  const pads = [r.int(0, 2), r.int(0, 2), r.int(0, 2), r.int(0, 2)];
  const h = r.int(dh * (kh - 1) + 1, 20);
  const w = r.int(dw * (kw - 1) + 1, 20);
  const input = [r.int(1, 2), cin, h, w];
  const conv = g.op('', 'Conv', [b.x, b.weight('w', [cout, cin / groups, kh, kw])], [
    ints('dilations', [dh, dw]), int('group', groups), ints('kernel_shape', [kh, kw]), ints('pads', pads), ints('strides', [sh, sw]),
  ]);
  const pk = r.int(1, 2);
  const poolOp = r.pick(['MaxPool', 'AveragePool']);
  const pool = g.op('', poolOp, [conv], [
    ints('kernel_shape', [pk, pk]), ints('strides', [r.int(1, 2), r.int(1, 2)]), ints('pads', [0, 0, r.int(0, pk - 1), r.int(0, pk - 1)]), int('ceil_mode', r.int(0, 1)),
  ]);
  const cat = g.op('', 'Concat', [pool, pool], [int('axis', 1)]);
  const scales = g.op('', 'Concat', [g.constant('s1', tensorFromArray([2], new Float32Array([1, 1]))), g.constant('s2', tensorFromArray([2], new Float32Array([2, 2])))], [int('axis', 0)]);
  const up = g.op('', 'Resize', [cat, g.constant('roi', tensorFromArray([0], new Float32Array(0))), scales], [{ name: 'mode', value: { type: 'string', value: 'nearest' } }]);
  const reshaped = g.op('', 'Reshape', [up, g.constant('shape', int64Tensor([0, -1, 1]))]);
  const flat = g.op('', 'Flatten', [g.op('', 'GlobalAveragePool', [up])], [int('axis', 1)]);
  const classes = r.int(1, 5);
  const gemm = g.op('', 'Gemm', [flat, b.weight('fc', [classes, 2 * cout]), b.weight('fc_b', [classes])], [int('transB', 1)]);
  const file = b.write(dir, `case-${r.seed}.onnx`, input, [[conv, 4], [pool, 4], [up, 4], [reshaped, 3], [flat, 2], [gemm, 2]]);
  return {
    file,
    input,
    convMacs: (y) => y.reduce((a, c) => a * c, 1) * (cin / groups) * kh * kw,
    gemmMacs: input[0] * classes * 2 * cout,
  };
}

test('shapes and MACs agree with onnxruntime on seeded random conv/pool/resize graphs', async () => {
  const cases: Case[] = [];
  forSeeds(SEEDS.slice(0, 24), (r) => cases.push(randomCase(r)));
  for (const c of cases) {
    // onnxruntime's own shape inference keeps the ceil_mode window the runtime drops, and warns about it.
    const s = await ort.InferenceSession.create(c.file, { executionProviders: ['cpu'], logSeverityLevel: 3 });
    const n = c.input.reduce((a, b) => a * b, 1);
    const out = await s.run({ x: new ort.Tensor('float32', new Float32Array(n).fill(0.5), [...c.input]) });
    await s.release();
    const m = readOnnx(c.file);
    try {
      const shapes = propagateShapes(m.graph, new Map([['x', c.input]]), 13);
      for (const o of m.graph.outputs) expect([c.file, o.name, shapes.get(o)]).toEqual([c.file, o.name, out[o.name].dims]);
      const cost = graphCost(m.graph, new Map([['x', c.input]]), 13);
      const convOut = out[m.graph.outputs[0].name].dims;
      expect([c.file, cost.macsByOp]).toEqual([c.file, { Conv: c.convMacs(convOut), Gemm: c.gemmMacs }]);
      expect(cost.uncounted).toEqual([]);
    } finally {
      m.close();
    }
  }
});

test('Pad, Transpose, Slice, ReduceMean, Unsqueeze, Squeeze, Split and MatMul shapes agree with onnxruntime', async () => {
  const b = builder(rng(5));
  const { g } = b;
  const i64 = (name: string, v: number[]) => g.constant(name, int64Tensor(v));
  const padded = g.op('', 'Pad', [b.x, i64('pads', [0, 0, 1, 2, 0, 0, 3, 0])]);
  const moved = g.op('', 'Transpose', [padded], [ints('perm', [0, 2, 3, 1])]);
  const sliced = g.op('', 'Slice', [moved, i64('starts', [1, -1]), i64('ends', [9, -100]), i64('axes', [1, 2]), i64('steps', [2, -3])]);
  const mean = g.op('', 'ReduceMean', [sliced], [ints('axes', [1]), int('keepdims', 0)]);
  const up = g.op('', 'Unsqueeze', [mean, i64('axes1', [0, -1])]);
  const down = g.op('', 'Squeeze', [up, i64('axes2', [0])]);
  const split = g.graph.insertNode({ opType: 'Split', name: 'split', inputs: [down, i64('parts', [1, 3])], outputs: ['a', 'b'], attributes: [int('axis', 2)] });
  const mm = g.op('', 'MatMul', [split.outputs[1], b.weight('m', [1, 5])]);
  const input = [1, 4, 6, 8];
  const file = b.write(dir, 'ops.onnx', input, [[padded, 4], [moved, 4], [sliced, 4], [mean, 3], [up, 5], [down, 4], [split.outputs[0], 4], [mm, 4]]);
  const s = await ort.InferenceSession.create(file, { executionProviders: ['cpu'], logSeverityLevel: 3 });
  const out = await s.run({ x: new ort.Tensor('float32', new Float32Array(192).fill(1), input) });
  await s.release();
  const m = readOnnx(file);
  try {
    const shapes = propagateShapes(m.graph, new Map([['x', input]]), 13);
    expect(m.graph.outputs.map((o) => [o.name, shapes.get(o)])).toEqual(m.graph.outputs.map((o) => [o.name, out[o.name].dims]));
    expect(graphCost(m.graph, new Map([['x', input]]), 13).macsByOp).toEqual({ MatMul: numel(out[mm.name].dims) * 1 });
  } finally {
    m.close();
  }
});
