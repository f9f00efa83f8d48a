// Small valid models that ask onnxruntime for far more than their size: a tensor of 16000 x 16000, a
// Loop of 2^40 iterations (as a constant, or computed from the input where no reader can see it), and
// one onnxruntime loads but cannot run. Each is a few hundred bytes.
import { BOOL, FLOAT, INT64, attr, f32, graph, i64, model, node, tensor, valueInfo } from './onnx-bytes';

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

/** A BatchNormalization over 8 channels whose running_var holds 4: onnxruntime loads it and fails when it runs. */
export function shortVariance(): Buffer {
  return model({
    nodes: [node('BatchNormalization', ['x', 'g', 'b', 'm', 'v'], ['y'])],
    initializers: [tensor('g', FLOAT, [8], f32(...Array(8).fill(1))), tensor('b', FLOAT, [8], f32(...Array(8).fill(0))), tensor('m', FLOAT, [8], f32(...Array(8).fill(0))), tensor('v', FLOAT, [4], f32(1, 1, 1, 1))],
    inputs: [valueInfo('x', FLOAT, [1, 8, 4, 4])],
    outputs: [valueInfo('y', FLOAT, [1, 8, 4, 4])],
  });
}
