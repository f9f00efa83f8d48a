// Pairs whose interfaces differ (output names, shapes, dtypes, inputs), element mismatches, and
// dynamic dimensions, on tiny models built in memory.
import { verifyModels } from '../../src/verify';
import { DOUBLE, INT64, tempDir, unary, writeTiny } from './helpers/tiny-onnx';
import { rejection } from '../helpers/errors';

let tmp: ReturnType<typeof tempDir>;
beforeAll(() => (tmp = tempDir()));
afterAll(() => tmp.cleanup());


describe('interfaces that differ fail with a clear message', () => {
  test('different output names', async () => {
    const ref = writeTiny(tmp.dir, 'names-ref.onnx', unary('Relu', [1, 4]));
    const cand = writeTiny(tmp.dir, 'names-cand.onnx', unary('Relu', [1, 4], { x: 'x', y: 'z' }));
    const r = await verifyModels(ref, cand);
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual(['the candidate lacks output "y"', 'the candidate has extra output "z"']);
    expect(r.outputs).toEqual({});
  });

  test('different output shapes', async () => {
    const ref = writeTiny(tmp.dir, 'shape-ref.onnx', unary('Relu', [1, 4]));
    const cand = writeTiny(tmp.dir, 'shape-cand.onnx', unary('Transpose', [1, 4], undefined, [4, 1]));
    const r = await verifyModels(ref, cand);
    expect(r.ok).toBe(false);
    expect(r.outputs.y).toMatchObject({ ok: false, problem: 'shape differs: reference [1, 4], candidate [4, 1]', maxAbsError: null });
    expect(r.problems).toEqual(['output "y": shape differs: reference [1, 4], candidate [4, 1]']);
  });

  test('different output dtypes', async () => {
    const ref = writeTiny(tmp.dir, 'dtype-ref.onnx', unary('Relu', [2]));
    const cand = writeTiny(tmp.dir, 'dtype-cand.onnx', {
      inputs: [{ name: 'x', dims: [2] }],
      outputs: [{ name: 'y', dims: [2], elemType: DOUBLE }],
      nodes: [{ op: 'Cast', inputs: ['x'], outputs: ['y'], ints: { to: DOUBLE } }],
    });
    const r = await verifyModels(ref, cand);
    expect(r.ok).toBe(false);
    expect(r.outputs.y.problem).toBe('dtype differs: reference float32, candidate float64');
  });

  test('different inputs', async () => {
    const ref = writeTiny(tmp.dir, 'in-ref.onnx', unary('Relu', [2]));
    const cand = writeTiny(tmp.dir, 'in-cand.onnx', unary('Relu', [2], { x: 'image', y: 'y' }));
    const r = await verifyModels(ref, cand);
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual(['the models take different inputs: reference has [x], candidate has [image]']);
  });

  test('inputs of different fixed shapes', async () => {
    const ref = writeTiny(tmp.dir, 'inshape-ref.onnx', unary('Relu', [1, 4]));
    const cand = writeTiny(tmp.dir, 'inshape-cand.onnx', unary('Relu', [1, 5]));
    const r = await verifyModels(ref, cand);
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual(['input "x" has shape [1, 4] in the reference but [1, 5] in the candidate']);
  });
});

describe('element mismatches', () => {
  test('a different function fails, with the first failure and top-1 agreement reported', async () => {
    const ref = writeTiny(tmp.dir, 'fn-ref.onnx', unary('Identity', [2, 5]));
    const cand = writeTiny(tmp.dir, 'fn-cand.onnx', unary('Neg', [2, 5]));
    const r = await verifyModels(ref, cand, { samples: 3 });
    const y = r.outputs.y;
    expect(r.ok).toBe(false);
    expect(y.failingElements).toBe(30);
    expect(y.elements).toBe(30);
    expect(y.top1Rows).toBe(6);
    expect(y.top1Agreement).toBe(0); // negation turns the largest into the smallest
    expect(y.cosineSimilarity).toBeCloseTo(-1, 10);
    expect(y.firstFailure).toMatchObject({ sample: 0, index: 0 });
    expect(y.firstFailure!.candidate).toBe(-y.firstFailure!.reference);
  });

  test('NaN where the reference has a number fails; NaN on both sides does not', async () => {
    const sqrt = writeTiny(tmp.dir, 'sqrt.onnx', unary('Sqrt', [64]));
    const safe = writeTiny(tmp.dir, 'sqrt-relu.onnx', {
      inputs: [{ name: 'x', dims: [64] }],
      outputs: [{ name: 'y', dims: [64] }],
      nodes: [
        { op: 'Relu', inputs: ['x'], outputs: ['r'] },
        { op: 'Sqrt', inputs: ['r'], outputs: ['y'] },
      ],
    });
    const same = await verifyModels(sqrt, sqrt);
    expect(same.ok).toBe(true);
    const nans = same.outputs.y.nanCount!;
    expect(nans.reference).toBeGreaterThan(0);
    expect(nans.candidate).toBe(nans.reference);
    const r = await verifyModels(sqrt, safe);
    expect(r.ok).toBe(false);
    expect(r.outputs.y.nonFiniteMismatches).toBe(nans.reference);
    expect(r.outputs.y.failingElements).toBe(nans.reference);
    expect(r.outputs.y.nanCount).toEqual({ reference: nans.reference, candidate: 0 });
  });

  test('a reference that is NaN everywhere shows nothing, so the check fails and says why', async () => {
    const nowhere = writeTiny(tmp.dir, 'sqrt-neg.onnx', {
      inputs: [{ name: 'x', dims: [64] }],
      outputs: [{ name: 'y', dims: [64] }],
      nodes: [
        { op: 'Abs', inputs: ['x'], outputs: ['a'] },
        { op: 'Neg', inputs: ['a'], outputs: ['n'] },
        { op: 'Sqrt', inputs: ['n'], outputs: ['y'] },
      ],
    });
    const r = await verifyModels(nowhere, nowhere);
    expect(r.ok).toBe(false);
    expect(r.outputs.y.nanCount).toEqual({ reference: 64, candidate: 64 });
    expect(r.outputs.y.failingElements).toBe(0);
    expect(r.outputs.y.problem).toBe('every reference value (64) is NaN or infinite, so the comparison shows nothing');
    expect(r.problems).toEqual(['output "y": every reference value (64) is NaN or infinite, so the comparison shows nothing']);
  });
});

describe('input shapes', () => {
  test('a dynamic batch axis is set to 1', async () => {
    const m = writeTiny(tmp.dir, 'batch.onnx', unary('Relu', ['batch', 4]));
    const r = await verifyModels(m, m);
    expect(r.inputs).toEqual({ x: { dtype: 'float32', shape: [1, 4] } });
    expect(r.outputs.y.shape).toEqual([1, 4]);
  });

  test('a dynamic dim fixed in the other model takes that value', async () => {
    const ref = writeTiny(tmp.dir, 'dyn-ref.onnx', unary('Relu', ['N', 'width']));
    const cand = writeTiny(tmp.dir, 'dyn-cand.onnx', unary('Relu', ['N', 6]));
    const r = await verifyModels(ref, cand);
    expect(r.inputs.x.shape).toEqual([1, 6]);
  });

  test('any other dynamic dim must be given, and the error says which', async () => {
    const m = writeTiny(tmp.dir, 'hw.onnx', unary('Relu', ['N', 3, 'height', 'width']));
    const e = await rejection(verifyModels(m, m));
    expect(e.code).toBe('BAD_USAGE');
    expect(e.message).toBe('input "x" has a dynamic dimension 2 ("height") that cannot be resolved: its shape is [N, 3, height, width]');
    expect(e.hint).toBe('give the full shape, one number for each dimension of [N, 3, height, width]: --input-shape x:1x3xHEIGHTxWIDTH on the command line, inputShapes in the library');
    const r = await verifyModels(m, m, { inputShapes: { x: [2, 3, 5, 7] } });
    expect(r.inputs.x.shape).toEqual([2, 3, 5, 7]);
    expect(r.outputs.y.elements).toBe(2 * 3 * 5 * 7);
  });

  test('given shapes must fit the model and name a real input', async () => {
    const m = writeTiny(tmp.dir, 'fixed.onnx', unary('Relu', ['N', 3]));
    const wrong = await rejection(verifyModels(m, m, { inputShapes: { x: [1, 4] } }));
    expect(wrong.message).toBe('input shape [1, 4] for "x" does not fit the model\'s [N, 3]');
    const unknown = await rejection(verifyModels(m, m, { inputShapes: { images: [1, 3] } }));
    expect(unknown.message).toBe('an input shape was given for "images", but the models\' inputs are [x]');
    expect(unknown.code).toBe('BAD_USAGE');
  });

  test('integer inputs are unsupported', async () => {
    const m = writeTiny(tmp.dir, 'ids.onnx', {
      inputs: [{ name: 'ids', dims: [1, 4], elemType: INT64 }],
      outputs: [{ name: 'y', dims: [1, 4] }],
      nodes: [{ op: 'Cast', inputs: ['ids'], outputs: ['y'], ints: { to: 1 } }],
    });
    const e = await rejection(verifyModels(m, m));
    expect(e.code).toBe('UNSUPPORTED');
    expect(e.message).toMatch(/input "ids" is int64/);
  });
});
