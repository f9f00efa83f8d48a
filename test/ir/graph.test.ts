// Graph edits: links stay consistent, a failed edit or transaction leaves the graph as it was,
// and the passes keep their contracts.
import * as path from 'path';
import { readOnnx } from '../../src/formats/onnx/read';
import { Graph, GraphEditError } from '../../src/ir/graph';
import { cleanup } from '../../src/ir/passes/cleanup';
import { toposort } from '../../src/ir/passes/toposort';
import { caseDir } from '../helpers/fixtures';

/** A structural fingerprint: node order, links, uses, producers, outputs. */
function snapshot(g: Graph): string {
  const vals = [...g.values].map((v) => `${v.name}<-${v.producer?.name ?? '-'}:${v.uses.map((u) => `${u.node.name}#${u.index}`).join(',')}`);
  const nodes = g.nodes.map((n) => `${n.name}(${n.inputs.map((v) => v?.name ?? '').join(',')})->${n.outputs.map((v) => v.name).join(',')}`);
  return JSON.stringify({ vals, nodes, inputs: g.inputs.map((v) => v.name), outputs: g.outputs.map((v) => v.name) });
}

function linksConsistent(g: Graph): void {
  for (const n of g.nodes) {
    n.inputs.forEach((v, i) => v && expect(v.uses.some((u) => u.node === n && u.index === i)).toBe(true));
    n.outputs.forEach((o) => expect(o.producer).toBe(n));
  }
  for (const v of g.values) for (const u of v.uses) expect(u.index < 0 || u.node.inputs[u.index] === v).toBe(true);
}

const load = () => readOnnx(path.join(caseDir('repvgg-bn'), 'train.onnx'));

describe('graph IR', () => {
  test('a throwing transaction undoes every edit it made', () => {
    const m = load();
    const g = m.graph;
    const before = snapshot(g);
    const add = g.nodes.find((n) => n.opType === 'Add')!;
    expect(() =>
      g.transaction(() => {
        const relu = g.insertNode({ opType: 'Relu', name: 'extra', inputs: [add.outputs[0]], outputs: ['extra_out'] }, { before: g.nodes[3] });
        g.replaceAllUses(add.outputs[0], relu.outputs[0]);
        g.renameValue(relu.outputs[0], 'renamed');
        throw new Error('rewrite failed half-way');
      }),
    ).toThrow('half-way');
    expect(snapshot(g)).toBe(before);
    linksConsistent(g);
    m.close();
  });

  test('edits that would break the graph are refused before anything changes', () => {
    const m = load();
    const g = m.graph;
    const before = snapshot(g);
    const conv = g.nodes.find((n) => n.opType === 'Conv')!;
    expect(() => g.removeNode(conv)).toThrow(GraphEditError); // its output is read
    expect(() => g.insertNode({ opType: 'Relu', inputs: [conv.outputs[0]], outputs: [conv.outputs[0].name] })).toThrow(/exists already/);
    expect(() => g.renameValue(conv.outputs[0], g.inputs[0].name)).toThrow(/exists already/);
    expect(snapshot(g)).toBe(before);
    m.close();
  });

  test('cleanup removes what nobody reads; toposort restores order', () => {
    const m = load();
    const g = m.graph;
    const n0 = g.nodes.length;
    const last = g.nodes[g.nodes.length - 1];
    g.insertNode({ opType: 'Relu', name: 'dead', inputs: [g.inputs[0]], outputs: ['dead_out'] });
    // Move the last node to the front: out of order.
    g.setOrder([last, ...g.nodes.filter((n) => n !== last)]);
    expect(toposort.run(g).modified).toBe(true);
    expect(g.nodes[g.nodes.length - 2]).toBe(last);
    const r = cleanup.run(g);
    expect(r).toEqual({ modified: true, counts: { nodes: 1, initializers: 0 } });
    expect(g.nodes.length).toBe(n0);
    expect(cleanup.run(g).modified).toBe(false);
    expect(toposort.run(g).modified).toBe(false);
    linksConsistent(g);
    m.close();
  });
});
