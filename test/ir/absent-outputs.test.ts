// Optional outputs left out ('' in ONNX, e.g. Dropout's mask): each node's is a value of its own, so two
// such nodes are a valid model, and they are written back as '' after a conversion.
import * as fs from 'fs';
import * as path from 'path';
import { convert } from '../../src/api/convert';
import { readOnnx } from '../../src/formats/onnx/read';
import { Graph } from '../../src/ir/graph';
import { tempDir } from '../helpers/fixtures';
import { rng } from '../helpers/random';
import { builder, ints } from '../inspect/graphs';

test('two nodes may each leave an output out, and the graph keeps them apart', () => {
  const g = new Graph();
  const x = g.ensureValue('x');
  g.addGraphInput(x);
  const a = g.insertNode({ opType: 'Dropout', inputs: [x], outputs: ['a', ''] });
  const b = g.insertNode({ opType: 'Dropout', inputs: [a.outputs[0]], outputs: ['b', ''] });
  expect(a.outputs[1].absent && b.outputs[1].absent).toBe(true);
  expect(a.outputs[1]).not.toBe(b.outputs[1]);
  expect([...g.values].some((v) => v.absent)).toBe(false);
  // Removing and restoring a node (a failed transaction) leaves the name table as it was.
  expect(() =>
    g.transaction(() => {
      g.replaceAllUses(a.outputs[0], x);
      g.removeNode(a);
      throw new Error('undo');
    }),
  ).toThrow('undo');
  expect(g.nodes).toEqual([a, b]);
  expect([...g.values].some((v) => v.absent)).toBe(false);
});

test('a model whose nodes leave optional outputs out converts, verifies and keeps them out', async () => {
  const dir = tempDir();
  const m = builder(rng(3));
  const c3 = m.g.op('/block', 'Conv', [m.x, m.weight('w3', [4, 4, 3, 3])], [ints('kernel_shape', [3, 3]), ints('pads', [1, 1, 1, 1])]);
  const c1 = m.g.op('/block', 'Conv', [m.x, m.weight('w1', [4, 4, 1, 1])], [ints('kernel_shape', [1, 1])]);
  const sum = m.g.op('/block', 'Add', [c3, c1]);
  const d1 = m.g.graph.insertNode({ opType: 'Dropout', name: 'drop1', inputs: [sum], outputs: ['d1', ''] });
  const d2 = m.g.graph.insertNode({ opType: 'Dropout', name: 'drop2', inputs: [d1.outputs[0]], outputs: ['d2', ''] });
  const train = m.write(dir, 'train.onnx', [1, 4, 8, 8], [[d2.outputs[0], 4]]);

  const out = path.join(dir, 'deploy.onnx');
  const r = await convert(train, out);
  expect(r.reparam?.merged).toEqual({ 'RepVGG 2-branch': 1 });
  expect(r.verify?.ok).toBe(true);
  // And through the FP16 pass, which rebuilds nodes.
  const out16 = path.join(dir, 'deploy16.onnx');
  expect((await convert(train, out16, { dtype: 'fp16' })).verify?.ok).toBe(true);
  for (const file of [out, out16]) {
    const back = readOnnx(file);
    try {
      const drops = back.graph.nodes.filter((n) => n.opType === 'Dropout');
      expect(drops.map((n) => n.outputs.map((o) => o.absent))).toEqual([[false, true], [false, true]]);
    } finally {
      back.close();
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
});
