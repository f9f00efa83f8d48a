// Small valid models that ask onnxruntime for far more than their size: a tensor of 16000 x 16000, a
// Loop of 2^40 iterations (as a constant, or computed from the input where no reader can see it), and
// one onnxruntime loads but cannot run. Each is a few hundred bytes. Then a RepVGG block made
// malformed in the ways exporters and hand edits get wrong (a group of 0, statistics too short).
import { BOOL, FLOAT, INT64, attr, f32, field, graph, i64, model, namedNode, node, tensor, valueInfo } from './onnx-bytes';

const one = tensor('one', FLOAT, [1], f32(1));

/** y = x + sum(ConstantOfShape([n, n])): n² floats from a shape of two numbers. */
export function constantOfShape(n: number): Buffer {
  return model({
    nodes: [
      node('ConstantOfShape', ['shape'], ['big'], attr.tensor('value', tensor('v', FLOAT, [1], f32(1)))),
      node('ReduceSum', ['big'], ['s'], attr.int('keepdims', 0)),
      node('Add', ['x', 's'], ['y']),
    ],
    initializers: [tensor('shape', INT64, [2], i64(n, n))],
    inputs: [valueInfo('x', FLOAT, [1])],
    outputs: [valueInfo('y', FLOAT, [1])],
  });
}

/** The same tensor, its shape computed from the input's values (times zero, plus n): known only when it runs. */
export function constantOfShapeFromInput(n: number): Buffer {
  return model({
    nodes: [
      node('Mul', ['x', 'zero'], ['x0']),
      node('Add', ['x0', 'n'], ['s']),
      node('Cast', ['s'], ['shape'], attr.int('to', INT64)),
      node('ConstantOfShape', ['shape'], ['big'], attr.tensor('value', tensor('v', FLOAT, [1], f32(1)))),
      node('ReduceSum', ['big'], ['y'], attr.int('keepdims', 0)),
    ],
    initializers: [tensor('zero', FLOAT, [2], f32(0, 0)), tensor('n', FLOAT, [2], f32(n, n))],
    inputs: [valueInfo('x', FLOAT, [2])],
    outputs: [valueInfo('y', FLOAT, [])],
  });
}

/** y = x + trips: a Loop adding one per iteration; the trip count a constant, or computed from the input. */
export function loop(trips: bigint, from: 'constant' | 'input'): Buffer {
  const body = {
    nodes: [node('Identity', ['cond_in'], ['cond_out']), node('Add', ['v_in', 'one'], ['v_out'])],
    inputs: [valueInfo('i', INT64, []), valueInfo('cond_in', BOOL, []), valueInfo('v_in', FLOAT, [1])],
    outputs: [valueInfo('cond_out', BOOL, []), valueInfo('v_out', FLOAT, [1])],
  };
  const computed = [
    node('ReduceSum', ['x'], ['xs'], attr.int('keepdims', 0)),
    node('Mul', ['xs', 'zero'], ['x0']),
    node('Add', ['x0', 'tripf'], ['tf']),
    node('Cast', ['tf'], ['trip'], attr.int('to', INT64)),
  ];
  return model({
    nodes: [...(from === 'input' ? computed : []), node('Loop', ['trip', 'cond', 'x'], ['y'], attr.graph('body', graph(body, 'body')))],
    initializers: [
      one,
      tensor('cond', BOOL, [], Uint8Array.of(1)),
      ...(from === 'constant' ? [tensor('trip', INT64, [], i64(trips))] : [tensor('zero', FLOAT, [], f32(0)), tensor('tripf', FLOAT, [], f32(Number(trips)))]),
    ],
    inputs: [valueInfo('x', FLOAT, [1])],
    outputs: [valueInfo('y', FLOAT, [1])],
  });
}

/** y = Reshape(x, shape) with the shape computed from x's values ([3] for an x of 2): it fails only when it runs. */
export function reshapeFromInput(): Buffer {
  return model({
    nodes: [
      node('Mul', ['x', 'zero'], ['x0']),
      node('ReduceSum', ['x0'], ['s'], attr.int('keepdims', 1)),
      node('Add', ['s', 'three'], ['t']),
      node('Cast', ['t'], ['shape'], attr.int('to', INT64)),
      node('Reshape', ['x', 'shape'], ['y']),
    ],
    initializers: [tensor('zero', FLOAT, [1], f32(0)), tensor('three', FLOAT, [1], f32(3))],
    inputs: [valueInfo('x', FLOAT, [2])],
    outputs: [valueInfo('y', FLOAT, [3])],
  });
}

export interface BlockFaults {
  /** Input channels (8). */
  readonly channels?: number;
  /** The 3x3 conv's group attribute (none). */
  readonly group3?: number;
  /** Dims of the 3x3 weight ([8, channels, 3, 3]) and of the 1x1 weight ([8, channels, 1, 1]). */
  readonly w3?: readonly number[];
  readonly w1?: readonly number[];
  /** The 1x1 conv's kernel_shape attribute ([1, 1]; null: none). */
  readonly kernel1?: readonly number[] | null;
  /** Length of the 3x3 branch's BatchNorm statistics: all four, and running_var alone (8). */
  readonly stats3?: number;
  readonly var3?: number;
}

/**
 * A RepVGG block over x[1, C, 8, 8] with named nodes: stage.conv3 (3x3, pads 1) → stage.bn3, stage.conv1
 * (1x1) → stage.bn1, stage.add, stage.relu; every weight 0.01, statistics 1 and 0.
 */
export function repvggBlock(f: BlockFaults = {}): Buffer {
  const c = f.channels ?? 8;
  const full = (name: string, dims: readonly number[], v: number) => tensor(name, FLOAT, dims, f32(...Array(dims.reduce((a, b) => a * b, 1)).fill(v)));
  const bn = (k: string, n: number, nVar: number) => [full(`g${k}`, [n], 1), full(`b${k}`, [n], 0), full(`m${k}`, [n], 0), full(`v${k}`, [nVar], 1)];
  const stats3 = f.stats3 ?? 8;
  const kernel1 = f.kernel1 === undefined ? [1, 1] : f.kernel1;
  return model({
    nodes: [
      namedNode('stage.conv3', 'Conv', ['x', 'w3'], ['c3'], attr.ints('kernel_shape', [3, 3]), attr.ints('pads', [1, 1, 1, 1]), ...(f.group3 !== undefined ? [attr.int('group', f.group3)] : [])),
      namedNode('stage.bn3', 'BatchNormalization', ['c3', 'g3', 'b3', 'm3', 'v3'], ['n3']),
      namedNode('stage.conv1', 'Conv', ['x', 'w1'], ['c1'], ...(kernel1 ? [attr.ints('kernel_shape', kernel1)] : [])),
      namedNode('stage.bn1', 'BatchNormalization', ['c1', 'g1', 'b1', 'm1', 'v1'], ['n1']),
      namedNode('stage.add', 'Add', ['n3', 'n1'], ['s']),
      namedNode('stage.relu', 'Relu', ['s'], ['y']),
    ],
    initializers: [full('w3', f.w3 ?? [8, c, 3, 3], 0.01), ...bn('3', stats3, f.var3 ?? stats3), full('w1', f.w1 ?? [8, c, 1, 1], 0.01), ...bn('1', 8, 8)],
    inputs: [valueInfo('x', FLOAT, [1, c, 8, 8])],
    outputs: [valueInfo('y', FLOAT, [1, 8, 8, 8])],
  });
}

/**
 * Every name a file can carry set to `tag + evil`: the producer, the graph, the nodes, the values and the
 * initializers. A RepVGG block (merged), then a Conv → BatchNorm the fold refuses (the Conv's output is
 * also read by a Relu), so that reports, reasons and the check all have names to print. `w3` scales the
 * 3x3 weight (a candidate that fails the check); `customOp` adds a node of an unknown op type in the
 * domain com.example, the op type carrying the name too; `group3` sets the 3x3 conv's group.
 */
export function evilNames(evil: string, options: { w3?: number; customOp?: boolean; group3?: number } = {}): Buffer {
  const n = (tag: string) => `${tag}${evil}`;
  const full = (name: string, dims: readonly number[], v: number) => tensor(n(name), FLOAT, dims, f32(...Array(dims.reduce((a, b) => a * b, 1)).fill(v)));
  const bn = (k: string) => [full(`g${k}`, [8], 1), full(`b${k}`, [8], 0.1), full(`m${k}`, [8], 0), full(`v${k}`, [8], 1)];
  const v = (k: string) => n(k);
  return model(
    {
      nodes: [
        namedNode(n('conv3'), 'Conv', [v('x'), v('w3')], [v('c3')], attr.ints('kernel_shape', [3, 3]), attr.ints('pads', [1, 1, 1, 1]), ...(options.group3 !== undefined ? [attr.int('group', options.group3)] : [])),
        namedNode(n('bn3'), 'BatchNormalization', [v('c3'), v('g3'), v('b3'), v('m3'), v('v3')], [v('n3')]),
        namedNode(n('conv1'), 'Conv', [v('x'), v('w1')], [v('c1')], attr.ints('kernel_shape', [1, 1])),
        namedNode(n('bn1'), 'BatchNormalization', [v('c1'), v('g1'), v('b1'), v('m1'), v('v1')], [v('n1')]),
        namedNode(n('add'), 'Add', [v('n3'), v('n1')], [v('s')]),
        namedNode(n('relu'), 'Relu', [v('s')], [v('y')]),
        namedNode(n('conv5'), 'Conv', [v('y'), v('w5')], [v('c5')], attr.ints('kernel_shape', [1, 1])),
        namedNode(n('bn5'), 'BatchNormalization', [v('c5'), v('g5'), v('b5'), v('m5'), v('v5')], [v('y2')]),
        namedNode(n('relu5'), 'Relu', [v('c5')], [v('y3')]),
        ...(options.customOp ? [field(1, Buffer.concat([field(1, Buffer.from(v('y3'))), field(2, Buffer.from(v('y4'))), field(3, Buffer.from(n('custom'))), field(4, Buffer.from(n('Op'))), field(7, Buffer.from('com.example'))]))] : []),
      ],
      initializers: [full('w3', [8, 8, 3, 3], 0.01 * (options.w3 ?? 1)), ...bn('3'), full('w1', [8, 8, 1, 1], 0.02), ...bn('1'), full('w5', [8, 8, 1, 1], 0.03), ...bn('5')],
      inputs: [valueInfo(v('x'), FLOAT, [1, 8, 8, 8])],
      outputs: [valueInfo(v('y2'), FLOAT, [1, 8, 8, 8]), valueInfo(v(options.customOp ? 'y4' : 'y3'), FLOAT, [1, 8, 8, 8])],
    },
    { producer: n('producer'), graphName: n('graph'), domains: options.customOp ? ['com.example'] : [] },
  );
}
