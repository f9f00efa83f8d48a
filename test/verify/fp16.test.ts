// FP16 candidates: float16 inputs/outputs against a float32 reference, or float32 I/O with Cast nodes
// around float16 weights. Precision detection, FP16 default tolerances, the FP32 exceedance count,
// exact float16 rounding of the fed inputs, and interface problems that must still fail.
import * as fs from 'fs';
import * as path from 'path';
import { FormatError, UserError } from '../../src/errors';
import { DEFAULT_ATOL, DEFAULT_ATOL_FP16, DEFAULT_RTOL, DEFAULT_RTOL_FP16, formatReport, verifyModels } from '../../src/verify';
import { modelFacts } from '../../src/verify/model-facts';
import { Fp16Layout, writeFp16Copy } from './helpers/fp16-onnx';
import { INT64, tempDir, unary, writeTiny } from './helpers/tiny-onnx';

const FLOAT16 = 10;
const ROOT = path.join(__dirname, '..', '..', 'fixtures', 'onnx');
const CASES = fs.readdirSync(ROOT).filter((c) => fs.existsSync(path.join(ROOT, c, 'deploy_ref.onnx')));
const train = (c: string) => path.join(ROOT, c, 'train.onnx');
const deployRef = (c: string) => path.join(ROOT, c, 'deploy_ref.onnx');

let tmp: ReturnType<typeof tempDir>;
beforeAll(() => (tmp = tempDir()));
afterAll(() => tmp.cleanup());

function fp16Copy(c: string, layout: Fp16Layout): string {
  const file = path.join(tmp.dir, `${c}-${layout}.onnx`);
  if (!fs.existsSync(file)) writeFp16Copy(deployRef(c), file, layout);
  return file;
}

describe('every fixture pair passes in FP16 under the FP16 defaults', () => {
  const pairs = CASES.flatMap((c) => (['io', 'cast'] as const).map((layout) => [c, layout] as const));
  test.each(pairs)('%s, %s', async (c, layout) => {
    const report = await verifyModels(train(c), fp16Copy(c, layout), { samples: 3 });
    expect(report.problems).toEqual([]);
    expect(report).toMatchObject({ ok: true, precision: 'fp16', atol: DEFAULT_ATOL_FP16, rtol: DEFAULT_RTOL_FP16 });
    expect(report.precisionSource).toBe(layout === 'io' ? 'inputs-outputs' : 'weights');
    for (const out of Object.values(report.outputs)) {
      expect(out.cosineSimilarity).toBeGreaterThan(0.9999);
      // FP16 is visibly worse than FP32: most elements would fail the FP32 tolerances.
      expect(out.fp32Exceed!.count).toBeGreaterThan(0);
      expect(out.candidateDtype).toBe(layout === 'io' ? 'float16' : undefined);
    }
  });
});

describe('the report of an FP16 candidate', () => {
  test('names the float16 side of inputs and outputs and says what FP32 tolerances would fail', async () => {
    const r = await verifyModels(train('repvgg-bn'), fp16Copy('repvgg-bn', 'io'), { samples: 2 });
    expect(r.inputs).toEqual({ input: { dtype: 'float32', candidateDtype: 'float16', shape: [1, 3, 32, 32] } });
    const out = r.outputs.output;
    expect(out).toMatchObject({ ok: true, dtype: 'float32', candidateDtype: 'float16', shape: [1, 10], elements: 20 });
    const x = out.fp32Exceed!;
    expect(x).toMatchObject({ atol: DEFAULT_ATOL, rtol: DEFAULT_RTOL });
    expect(x.count).toBeGreaterThan(0);
    expect(x.count).toBeLessThanOrEqual(20);
    // The largest error is far beyond the FP32 allowance, so it is among the exceeding elements.
    expect(x.maxAbsError).toBe(out.maxAbsError);
    expect(x.maxAllowances).toBeGreaterThan(1);
    expect(x.maxAllowances).toBeLessThanOrEqual(x.maxAbsError / DEFAULT_ATOL);
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
    const text = formatReport(r);
    expect(text).toMatch(/fp16 candidate \(float16 inputs\/outputs\)/);
    expect(text).toMatch(/"output" float32\[1, 10\] \(candidate float16\)/);
    expect(text).toMatch(/beyond the FP32 tolerances \(atol 0\.0001, rtol 0\.0001\): \d+\/20, up to /);
  });

  test('an FP32 pair has precision fp32 and no exceedance count', async () => {
    const r = await verifyModels(train('repvgg-bn'), deployRef('repvgg-bn'));
    expect(r).toMatchObject({ precision: 'fp32', precisionSource: 'default', atol: DEFAULT_ATOL, rtol: DEFAULT_RTOL });
    expect(r.outputs.output.fp32Exceed).toBeUndefined();
    expect(r.outputs.output.candidateDtype).toBeUndefined();
    expect(r.inputs.input.candidateDtype).toBeUndefined();
  });

  test('precision from the caller wins over detection, and picks the default tolerances', async () => {
    const fp16 = fp16Copy('repvgg-bn', 'cast');
    const strict = await verifyModels(train('repvgg-bn'), fp16, { precision: 'fp32' });
    expect(strict).toMatchObject({ ok: false, precision: 'fp32', precisionSource: 'option', atol: DEFAULT_ATOL });
    expect(strict.outputs.output.fp32Exceed).toBeUndefined();
    const loose = await verifyModels(train('repvgg-bn'), deployRef('repvgg-bn'), { precision: 'fp16' });
    expect(loose).toMatchObject({ ok: true, precision: 'fp16', precisionSource: 'option', atol: DEFAULT_ATOL_FP16 });
    // An FP32 deploy model stays within the FP32 tolerances, and the report says so.
    expect(loose.outputs.output.fp32Exceed).toMatchObject({ count: 0, maxAbsError: 0, maxAllowances: 0 });
  });

  test('an unknown precision is refused', async () => {
    const e = await verifyModels(train('repvgg-bn'), deployRef('repvgg-bn'), { precision: 'fp8' as never }).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(UserError);
    expect((e as UserError).message).toBe('unknown precision "fp8" (choose fp32 or fp16)');
    expect((e as UserError).code).toBe('BAD_USAGE');
  });

  test('a given atol or rtol replaces only that default', async () => {
    const r = await verifyModels(train('repvgg-bn'), fp16Copy('repvgg-bn', 'io'), { atol: 1e-6 });
    expect(r).toMatchObject({ atol: 1e-6, rtol: DEFAULT_RTOL_FP16, precision: 'fp16' });
  });
});

describe('inputs are drawn once in float32 and rounded to nearest for a float16 candidate', () => {
  const f16 = (name: string, dims: readonly number[]) => ({ name, dims, elemType: FLOAT16 });

  test('an Identity candidate returns exactly the rounded inputs', async () => {
    const ref = writeTiny(tmp.dir, 'id32.onnx', unary('Identity', [4, 256]));
    const cand = writeTiny(tmp.dir, 'id16.onnx', { inputs: [f16('x', [4, 256])], outputs: [f16('y', [4, 256])], nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['y'] }] });
    const casts = writeTiny(tmp.dir, 'cast16.onnx', {
      inputs: [{ name: 'x', dims: [4, 256] }],
      outputs: [{ name: 'y', dims: [4, 256] }],
      nodes: [
        { op: 'Cast', inputs: ['x'], outputs: ['h'], ints: { to: FLOAT16 } },
        { op: 'Cast', inputs: ['h'], outputs: ['y'], ints: { to: 1 } },
      ],
    });
    // Round to nearest: within half a float16 ulp, which is at most 2^-11 |x| for normal values and
    // 2^-25 for subnormal ones. Truncation would be off by up to a whole ulp and fail this.
    const halfUlp = { atol: 2 ** -25, rtol: 2 ** -11 };
    for (const seed of [3, 17, 2024]) {
      const io = await verifyModels(ref, cand, { seed, samples: 2, ...halfUlp });
      const cast = await verifyModels(ref, casts, { seed, samples: 2, ...halfUlp, precision: 'fp16' });
      const y = io.outputs.y;
      expect(io.precisionSource).toBe('inputs-outputs');
      expect(y.failingElements).toBe(0);
      expect(y.maxAbsError).toBeGreaterThan(0);
      // onnxruntime's own Cast rounds the same way as the feed conversion.
      expect(cast.outputs.y.maxAbsError).toBe(y.maxAbsError);
      expect(cast.outputs.y.meanAbsError).toBe(y.meanAbsError);
      expect(cast.outputs.y.worst).toEqual(y.worst);
    }
  });
});

describe('interface problems still fail for FP16 candidates', () => {
  const f16 = (name: string, dims: readonly number[]) => ({ name, dims, elemType: FLOAT16 });
  const relu16 = (x: string, y: string, inDims: readonly number[], outDims = inDims) => ({
    inputs: [f16(x, inDims)],
    outputs: [f16(y, outDims)],
    nodes: [{ op: 'Relu', inputs: [x], outputs: [y] }],
  });

  test('different input names', async () => {
    const ref = writeTiny(tmp.dir, 'n-ref.onnx', unary('Relu', [1, 4]));
    const cand = writeTiny(tmp.dir, 'n-cand.onnx', relu16('image', 'y', [1, 4]));
    const r = await verifyModels(ref, cand);
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual(['the models take different inputs: reference has [x], candidate has [image]']);
  });

  test('different input shapes', async () => {
    const ref = writeTiny(tmp.dir, 's-ref.onnx', unary('Relu', [1, 4]));
    const cand = writeTiny(tmp.dir, 's-cand.onnx', relu16('x', 'y', [1, 5]));
    const r = await verifyModels(ref, cand);
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual(['input "x" has shape [1, 4] in the reference but [1, 5] in the candidate']);
  });

  test('different output names and shapes', async () => {
    const ref = writeTiny(tmp.dir, 'o-ref.onnx', unary('Relu', [1, 4]));
    const named = writeTiny(tmp.dir, 'o-name.onnx', relu16('x', 'z', [1, 4]));
    const shaped = writeTiny(tmp.dir, 'o-shape.onnx', {
      inputs: [f16('x', [1, 4])],
      outputs: [f16('y', [4, 1])],
      nodes: [{ op: 'Transpose', inputs: ['x'], outputs: ['y'] }],
    });
    expect((await verifyModels(ref, named)).problems).toEqual(['the candidate lacks output "y"', 'the candidate has extra output "z"']);
    const r = await verifyModels(ref, shaped);
    expect(r.ok).toBe(false);
    expect(r.outputs.y).toMatchObject({ ok: false, problem: 'shape differs: reference [1, 4], candidate [4, 1]', maxAbsError: null });
  });

  test('float16 against an integer input is still a dtype problem', async () => {
    const ref = writeTiny(tmp.dir, 'i-ref.onnx', {
      inputs: [{ name: 'x', dims: [4], elemType: INT64 }],
      outputs: [{ name: 'y', dims: [4] }],
      nodes: [{ op: 'Cast', inputs: ['x'], outputs: ['y'], ints: { to: 1 } }],
    });
    const cand = writeTiny(tmp.dir, 'i-cand.onnx', {
      inputs: [f16('x', [4])],
      outputs: [{ name: 'y', dims: [4] }],
      nodes: [{ op: 'Cast', inputs: ['x'], outputs: ['y'], ints: { to: 1 } }],
    });
    const r = await verifyModels(ref, cand);
    expect(r.problems).toEqual(['input "x" is int64 in the reference but float16 in the candidate']);
  });
});

describe('a broken FP16 model fails under the FP16 defaults', () => {
  // A conv weight tensor scaled by 1.5, as a wrong BN scale would: far beyond float16 rounding.
  test('one layer scaled', async () => {
    const { rawInitializers } = await import('./helpers/onnx-initializers');
    const bytes = Uint8Array.from(fs.readFileSync(deployRef('repvgg-bn')));
    const w = rawInitializers(bytes).find((i) => i.dataType === 1 && i.dims.length === 4)!;
    const view = new DataView(bytes.buffer, w.offset, w.length);
    for (let i = 0; i < w.length; i += 4) view.setFloat32(i, view.getFloat32(i, true) * 1.5, true);
    const broken32 = path.join(tmp.dir, 'broken32.onnx');
    const broken16 = path.join(tmp.dir, 'broken16.onnx');
    fs.writeFileSync(broken32, bytes);
    writeFp16Copy(broken32, broken16, 'io');
    const r = await verifyModels(train('repvgg-bn'), broken16, { samples: 2 });
    expect(r.precision).toBe('fp16');
    expect(r.ok).toBe(false);
    expect(r.outputs.output.failingElements).toBeGreaterThan(0);
  });
});

describe('modelFacts', () => {
  test('counts float weights by type from the initializer headers, and reads the interface', () => {
    const fp32 = modelFacts(deployRef('repvgg-bn'));
    expect(fp32.weights.float16).toBe(0);
    expect(fp32.weights.float32).toBeGreaterThan(1000);
    expect(fp32.inputs).toEqual([{ name: 'input', isTensor: true, type: 'float32', shape: [1, 3, 32, 32] }]);
    expect(fp32.outputs).toEqual(['output']);
    const fp16 = modelFacts(fp16Copy('repvgg-bn', 'cast'));
    expect(fp16.weights).toEqual({ float16: fp32.weights.float32, float32: 0 });
  });

  test('a file that is not protobuf is refused, naming the byte', () => {
    const bad = path.join(tmp.dir, 'bad.onnx');
    fs.writeFileSync(bad, Buffer.from([0x08, 0x07, 0x3a, 0xff, 0xff, 0x01]));
    expect(() => modelFacts(bad)).toThrow(FormatError);
    expect(() => modelFacts(bad)).toThrow(/bad\.onnx is not an ONNX model \(.* at byte \d+\)/);
  });
});
