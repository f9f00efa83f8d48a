// Graph edits and the passes stay linear in the graph, whatever its shape: a value read by every node,
// a long chain, a graph listed backwards. Proved by counting work, not by timing it: every element an
// array method or an array iteration visits is counted, and the count for a graph four times as large
// must stay within five times the count for the smaller one (linear work gives four; the quadratic
// scans this replaced gave sixteen).
import { Graph, Node, Value } from '../../src/ir/graph';
import { cleanup } from '../../src/ir/passes/cleanup';
import { ACYCLIC, WELL_FORMED } from '../../src/ir/passes/properties';
import { toposort } from '../../src/ir/passes/toposort';

const COUNTED = ['indexOf', 'lastIndexOf', 'includes', 'filter', 'map', 'some', 'every', 'find', 'findIndex', 'forEach', 'reduce', 'flatMap', 'slice', 'splice', 'concat'] as const;

/** Array elements visited while `fn` runs: the length of every array a counted method or an iteration walked. */
function visits(fn: () => void): number {
  const proto = Array.prototype as unknown as Record<string | symbol, (...args: unknown[]) => unknown>;
  const saved = new Map<string | symbol, (...args: unknown[]) => unknown>();
  let count = 0;
  for (const name of [...COUNTED, Symbol.iterator]) {
    const original = proto[name];
    saved.set(name, original);
    proto[name] = function (this: unknown[], ...args: unknown[]) {
      count += this.length;
      return original.apply(this, args);
    };
  }
  try {
    fn();
  } finally {
    for (const [name, original] of saved) proto[name] = original;
  }
  return count;
}

/** x read by n Relu nodes; only the first one's output is a graph output. */
function fanOut(n: number): Graph {
  const g = new Graph();
  const x = g.ensureValue('x');
  g.addGraphInput(x);
  const outs: Value[] = [];
  for (let i = 0; i < n; i++) outs.push(g.insertNode({ opType: 'Relu', name: `r${i}`, inputs: [x], outputs: [`y${i}`] }).outputs[0]);
  g.addGraphOutput(outs[0]);
  return g;
}

/** A chain of n Relu nodes after x, whose end nobody reads (all dead), listed in order or backwards. */
function chain(n: number, backwards = false): Graph {
  const g = new Graph();
  let v = g.ensureValue('x');
  g.addGraphInput(v);
  const nodes: Node[] = [];
  for (let i = 0; i < n; i++) {
    const node = g.insertNode({ opType: 'Relu', name: `r${i}`, inputs: [v], outputs: [`v${i}`] });
    nodes.push(node);
    v = node.outputs[0];
  }
  g.addGraphOutput(v);
  if (backwards) g.setOrder([...nodes].reverse());
  return g;
}

function scaling(make: (n: number) => Graph, work: (g: Graph) => void, n = 5000): { small: number; large: number } {
  const a = make(n);
  const b = make(4 * n);
  return { small: visits(() => work(a)), large: visits(() => work(b)) };
}

const linear = ({ small, large }: { small: number; large: number }) => expect(large).toBeLessThanOrEqual(5 * Math.max(small, 1));

describe('graph work is linear', () => {
  test('cleanup of n dead readers of one value', () => {
    linear(scaling(fanOut, (g) => cleanup.run(g)));
  });

  test('cleanup removes every dead reader and keeps the live one', () => {
    const g = fanOut(1000);
    expect(cleanup.run(g).counts).toEqual({ nodes: 999, initializers: 0 });
    expect(g.nodes.map((n) => n.name)).toEqual(['r0']);
    expect(g.value('x')!.uses).toEqual([expect.objectContaining({ node: g.nodes[0], index: 0 })]);
  });

  test('building n readers of one value, one at a time', () => {
    linear({ small: visits(() => fanOut(5000)), large: visits(() => fanOut(20000)) });
  });

  test('checking a graph of n graph inputs is well formed', () => {
    const make = (n: number) => {
      const g = new Graph();
      for (let i = 0; i < n; i++) {
        const x = g.ensureValue(`x${i}`);
        g.addGraphInput(x);
        g.addGraphOutput(g.insertNode({ opType: 'Relu', inputs: [x], outputs: [`y${i}`] }).outputs[0]);
      }
      return g;
    };
    linear(scaling(make, (g) => expect(WELL_FORMED.violation(g)).toBeUndefined(), 2000));
  });

  test('removing readers one by one, reading the use count between', () => {
    linear(
      scaling(fanOut, (g) => {
        const x = g.value('x')!;
        let left = 0;
        for (const n of [...g.nodes].slice(1)) {
          g.removeNode(n);
          left += x.useCount;
        }
        if (left <= 0) throw new Error('the first reader was removed too');
      }),
    );
  });

  test('cleanup of a dead chain, in order and listed backwards', () => {
    linear(scaling((n) => chain(n), (g) => cleanup.run(g)));
    linear(scaling((n) => chain(n, true), (g) => cleanup.run(g)));
    const g = chain(100, true);
    // the graph output keeps the whole chain alive; cut it and everything goes
    expect(cleanup.run(g).counts.nodes).toBe(0);
  });

  test('toposort of a chain listed backwards', () => {
    linear(scaling((n) => chain(n, true), (g) => expect(toposort.run(g).modified).toBe(true)));
    const g = chain(50, true);
    toposort.run(g);
    expect(g.nodes.map((n) => n.name)).toEqual(Array.from({ length: 50 }, (_, i) => `r${i}`));
  });

  test('toposort (and the acyclic check it needs) of n readers listed before their producer', () => {
    const make = (n: number) => {
      const g = new Graph();
      const x = g.ensureValue('x');
      g.addGraphInput(x);
      const p = g.insertNode({ opType: 'Relu', name: 'p', inputs: [x], outputs: ['y'] });
      for (let i = 0; i < n; i++) g.insertNode({ opType: 'Relu', name: `r${i}`, inputs: [p.outputs[0]], outputs: [`z${i}`] }, { before: p });
      g.addGraphOutput(g.value('z0')!);
      return g;
    };
    linear(scaling(make, (g) => toposort.run(g)));
    linear(scaling(make, (g) => expect(ACYCLIC.violation(g)).toBeUndefined()));
    const g = make(10);
    toposort.run(g);
    expect(g.nodes.map((n) => n.name)).toEqual(['p', ...Array.from({ length: 10 }, (_, i) => `r${i}`)]);
  });

  test('inserting before a node and moving uses: the same 2000 edits cost the same in a graph four times as large', () => {
    const { small, large } = scaling(fanOut, (g) => {
        const first = g.nodes[0];
        for (let i = 0; i < 2000; i++) {
          const y = g.value(`y${i}`)!;
          const id = g.insertNode({ opType: 'Identity', inputs: [y], outputs: [`id${i}`] }, { before: first });
          g.replaceAllUses(y, id.outputs[0]);
        }
      });
    expect(large).toBeLessThanOrEqual(1.5 * small);
  });
});
