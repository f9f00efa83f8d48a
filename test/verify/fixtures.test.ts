// Train/deploy pairs from fixtures/onnx: every true pair passes under the default tolerances, and a
// deploy model with a single weight changed fails.
import * as fs from 'fs';
import * as path from 'path';
import { DEFAULT_ATOL, DEFAULT_RTOL, verifyModels } from '../../src/verify';
import { rawInitializers, withChangedWeight } from './helpers/onnx-initializers';
import { tempDir } from './helpers/tiny-onnx';

const ROOT = path.join(__dirname, '..', '..', 'fixtures', 'onnx');
const CASES = fs.readdirSync(ROOT).filter((c) => fs.existsSync(path.join(ROOT, c, 'deploy_ref.onnx')));
const pair = (c: string) => [path.join(ROOT, c, 'train.onnx'), path.join(ROOT, c, 'deploy_ref.onnx')] as const;

test('the fixture cases are there', () => {
  expect(CASES).toContain('repvgg-bn');
});

describe('true pairs pass on the CPU provider', () => {
  test.each(CASES)('%s', async (c) => {
    const [train, deploy] = pair(c);
    const report = await verifyModels(train, deploy, { samples: 3 });
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    for (const out of Object.values(report.outputs)) {
      expect(out.failingElements).toBe(0);
      expect(out.maxAbsError).toBeLessThan(DEFAULT_ATOL);
      expect(out.cosineSimilarity).toBeGreaterThan(0.999999);
      expect(out.nanCount).toEqual({ reference: 0, candidate: 0 });
    }
  });
});

describe('report', () => {
  test('has the documented fields, and a seed reproduces it', async () => {
    const [train, deploy] = pair('repvgg-bn');
    const progress: string[] = [];
    const a = await verifyModels(train, deploy, { seed: 7, samples: 2, onProgress: (e) => progress.push(`${e.phase} ${e.done}/${e.total}`) });
    const b = await verifyModels(train, deploy, { seed: 7, samples: 2 });
    const c = await verifyModels(train, deploy, { seed: 8, samples: 2 });
    expect(a).toMatchObject({ ok: true, ep: 'cpu', referenceEp: 'cpu', seed: 7, samples: 2, atol: DEFAULT_ATOL, rtol: DEFAULT_RTOL });
    expect(a.inputs).toEqual({ input: { dtype: 'float32', shape: [1, 3, 32, 32] } });
    expect(Object.keys(a.outputs)).toEqual(['output']);
    const out = a.outputs.output;
    for (const k of ['maxAbsError', 'maxRelError', 'meanAbsError', 'medianAbsError', 'cosineSimilarity', 'failingElements'] as const) {
      expect(typeof out[k]).toBe('number');
    }
    expect(out).toMatchObject({ ok: true, dtype: 'float32', shape: [1, 10], elements: 20, top1Rows: 2, top1Agreement: 1 });
    expect(a.device.source).toBe('os');
    expect(a.timings.totalMs).toBeGreaterThan(0);
    // One model after the other: the reference opens and runs both samples, then the candidate.
    expect(progress).toEqual(['load 0/2', 'load 1/2', 'run 1/4', 'run 2/4', 'load 2/2', 'run 3/4', 'run 4/4']);
    // Same seed, same numbers; another seed, other inputs.
    expect(b.outputs).toEqual(a.outputs);
    expect(c.outputs.output.maxAbsError).not.toBe(a.outputs.output.maxAbsError);
    // The report survives JSON.
    expect(JSON.parse(JSON.stringify(a)).outputs.output.maxAbsError).toBe(out.maxAbsError);
  });

  test('a model compared with itself differs only by onnxruntime optimisations of the candidate', async () => {
    // The reference runs unoptimised, the candidate as deployed (with layout rewrites): a few float32 ulps.
    const [, deploy] = pair('repvgg-bn');
    const report = await verifyModels(deploy, deploy, { samples: 2 });
    expect(report.ok).toBe(true);
    expect(report.outputs.output.maxAbsError).toBeLessThan(1e-5);
  });

  test('zero tolerances fail a true pair: the tolerance is what lets rounding through', async () => {
    const [train, deploy] = pair('repvgg-bn');
    const report = await verifyModels(train, deploy, { atol: 0, rtol: 0, samples: 2 });
    expect(report.ok).toBe(false);
    expect(report.outputs.output.failingElements).toBeGreaterThan(0);
  });
});

describe('a single changed weight fails', () => {
  const [train, deploy] = pair('repvgg-bn');
  const bytes = fs.readFileSync(deploy);
  const weights = rawInitializers(bytes).filter((i) => i.dataType === 1 && i.dims.length >= 2);
  let tmp: ReturnType<typeof tempDir>;
  beforeAll(() => (tmp = tempDir()));
  afterAll(() => tmp.cleanup());

  test('the deploy model has weights to change', () => {
    expect(weights.map((w) => w.name)).toContain('linear.weight');
  });

  // Each layer's largest weight, scaled by 1.01: a 1% error in one of thousands of numbers.
  test.each(weights.map((w) => w.name))('%s', async (name) => {
    const init = weights.find((w) => w.name === name)!;
    const values = new Float32Array(bytes.buffer.slice(bytes.byteOffset + init.offset, bytes.byteOffset + init.offset + init.length));
    let index = 0;
    for (let i = 1; i < values.length; i++) if (Math.abs(values[i]) > Math.abs(values[index])) index = i;
    const changed = path.join(tmp.dir, `${name}.onnx`);
    fs.writeFileSync(changed, withChangedWeight(bytes, name, index, (w) => w * 1.01));
    const report = await verifyModels(train, changed);
    expect(report.ok).toBe(false);
    const out = report.outputs.output;
    expect(out.ok).toBe(false);
    expect(out.failingElements).toBeGreaterThan(0);
    expect(out.firstFailure).toBeDefined();
  });
});
