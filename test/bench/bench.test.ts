// benchModels on small fixture pairs: the report's structure and internal consistency (no timing
// thresholds: run times on a shared machine prove nothing), inputs, options and refusals.
import * as fs from 'fs';
import * as path from 'path';
import { benchModels, BenchReport, formatBenchReport } from '../../src/bench';
import { writeFp16Copy } from '../verify/helpers/fp16-onnx';
import { tempDir, unary, writeTiny } from '../verify/helpers/tiny-onnx';
import { rejection } from '../helpers/errors';

const ROOT = path.join(__dirname, '..', '..', 'fixtures', 'onnx');
const pair = (c: string) => [path.join(ROOT, c, 'train.onnx'), path.join(ROOT, c, 'deploy_ref.onnx')] as const;

let tmp: ReturnType<typeof tempDir>;
beforeAll(() => (tmp = tempDir()));
afterAll(() => tmp.cleanup());


/** What must hold for any report, whatever the machine did. */
function expectConsistent(r: BenchReport, runs: number): void {
  for (const m of [r.train, r.deploy]) {
    expect(m.timesMs).toHaveLength(runs);
    for (const t of m.timesMs) expect(t).toBeGreaterThan(0);
    expect(m.minMs).toBe(Math.min(...m.timesMs));
    expect(m.maxMs).toBe(Math.max(...m.timesMs));
    expect(m.minMs).toBeLessThanOrEqual(m.p50Ms);
    expect(m.p50Ms).toBeLessThanOrEqual(m.p90Ms);
    expect(m.p90Ms).toBeLessThanOrEqual(m.maxMs);
    expect(m.meanMs).toBeGreaterThanOrEqual(m.minMs);
    expect(m.meanMs).toBeLessThanOrEqual(m.maxMs);
    expect(m.throughput).toBeCloseTo((1000 * r.batch) / m.p50Ms, 9);
    expect(m.loadMs).toBeGreaterThan(0);
  }
  expect(r.speedup).toBe(r.train.p50Ms / r.deploy.p50Ms);
  const ratios = r.train.timesMs.map((t, i) => t / r.deploy.timesMs[i]);
  const s = r.pairedSpeedup;
  expect(s.min).toBe(Math.min(...ratios));
  expect(s.max).toBe(Math.max(...ratios));
  expect(s.min).toBeLessThanOrEqual(s.p10);
  expect(s.p10).toBeLessThanOrEqual(s.p50);
  expect(s.p50).toBeLessThanOrEqual(s.p90);
  expect(s.p90).toBeLessThanOrEqual(s.max);
  expect(r.totalMs).toBeGreaterThan(0);
  expect(JSON.parse(JSON.stringify(r))).toEqual(r);
}

describe('benchModels', () => {
  test('times both models on the same provider and reports a consistent summary', async () => {
    const [train, deploy] = pair('repvgg-bn');
    const progress: string[] = [];
    const r = await benchModels(train, deploy, { runs: 3, warmup: 2, seed: 5, onProgress: (e) => progress.push(`${e.phase} ${e.done}/${e.total}`) });
    expect(r).toMatchObject({ ep: 'cpu', skippedEps: [], runs: 3, warmup: 2, seed: 5, batch: 1 });
    expect(r.device.source).toBe('os');
    expect(r.inputs).toEqual({ input: { dtype: 'float32', shape: [1, 3, 32, 32] } });
    expect(r.train.file).toBe(train);
    expect(r.deploy.file).toBe(deploy);
    expect(r.logicalCpus).toBeGreaterThan(0);
    expect(typeof r.onnxruntime).toBe('string');
    expect(progress).toEqual(['warmup 1/2', 'warmup 2/2', 'run 1/3', 'run 2/3', 'run 3/3']);
    expectConsistent(r, 3);
  });

  test('the defaults: 20 runs after 3 warmup on the cpu provider', async () => {
    const [train, deploy] = pair('shared-weight-bn');
    const r = await benchModels(train, deploy);
    expect(r).toMatchObject({ ep: 'cpu', runs: 20, warmup: 3, seed: 0 });
    expectConsistent(r, 20);
  });

  test('a given batch size counts in the throughput', async () => {
    const [train, deploy] = pair('repvgg-dynamic-bn');
    const r = await benchModels(train, deploy, { runs: 3, warmup: 0, inputShapes: { input: [4, 3, 32, 32] } });
    expect(r.batch).toBe(4);
    expect(r.inputs.input.shape).toEqual([4, 3, 32, 32]);
    expectConsistent(r, 3);
  });

  test('an FP16 deploy model gets the input as float16', async () => {
    const [train, deploy] = pair('repvgg-bn');
    const fp16 = path.join(tmp.dir, 'deploy-fp16.onnx');
    writeFp16Copy(deploy, fp16, 'io');
    const r = await benchModels(train, fp16, { runs: 3, warmup: 1 });
    expect(r.inputs).toEqual({ input: { dtype: 'float32', candidateDtype: 'float16', shape: [1, 3, 32, 32] } });
    expectConsistent(r, 3);
  });

  test('formatBenchReport shows both models, the speedup and its spread', async () => {
    const [train, deploy] = pair('repvgg-bn');
    const r = await benchModels(train, deploy, { runs: 3, warmup: 1 });
    const text = formatBenchReport(r);
    expect(text).toMatch(/^bench on cpu .*: 3 runs per model after 1 warmup, interleaved; seed 0; input "input" float32\[1, 3, 32, 32\]/);
    expect(text).toMatch(/\n {2}train +[\d.]+ ms +[\d.]+ ms/);
    expect(text).toMatch(/\n {2}deploy +[\d.]+ ms/);
    expect(text).toMatch(/speedup [\d.]+x \(train p50 \/ deploy p50\); paired runs: p10 [\d.]+x, p90 [\d.]+x, min [\d.]+x, max [\d.]+x/);
    expect(text).not.toMatch(/software/);
    const software = formatBenchReport({ ...r, ep: 'webgpu', device: { name: 'llvmpipe', source: 'vulkaninfo', software: true } });
    expect(software).toMatch(/bench on webgpu \(llvmpipe, software\)/);
    expect(software).toMatch(/say nothing about GPUs/);
  });
});

describe('refusals', () => {
  test('options out of range', async () => {
    const [train, deploy] = pair('repvgg-bn');
    for (const [options, message] of [
      [{ runs: 0 }, 'runs 0 is not a positive integer'],
      [{ runs: 2.5 }, 'runs 2.5 is not a positive integer'],
      [{ warmup: -1 }, 'warmup -1 is not an integer >= 0'],
      [{ seed: -3 }, 'seed -3 is not an integer in [0, 2^32)'],
      [{ ep: 'tpu' as never }, 'unknown execution provider "tpu" (choose from cpu, webgpu, cuda, tensorrt, auto)'],
    ] as const) {
      const e = await rejection(benchModels(train, deploy, options));
      expect(e.message).toBe(message);
      expect(e.code).toBe('BAD_USAGE');
    }
  });

  test('a missing file', async () => {
    const [train] = pair('repvgg-bn');
    const missing = path.join(tmp.dir, 'nope.onnx');
    const e = await rejection(benchModels(train, missing));
    expect(e.message).toBe(`${missing}: no such file`);
  });

  test('models that cannot take the same input', async () => {
    const a = writeTiny(tmp.dir, 'a.onnx', unary('Relu', [1, 4]));
    const b = writeTiny(tmp.dir, 'b.onnx', unary('Relu', [1, 4], { x: 'image', y: 'y' }));
    const c = writeTiny(tmp.dir, 'c.onnx', unary('Relu', [1, 5]));
    const names = await rejection(benchModels(a, b, { runs: 1 }));
    expect(names.code).toBe('BAD_USAGE');
    expect(names.message).toBe(`${a} and ${b} cannot take the same input: the models take different inputs: train model has [x], deploy model has [image]`);
    const shapes = await rejection(benchModels(a, c, { runs: 1 }));
    expect(shapes.message).toMatch(/cannot take the same input: input "x" has shape \[1, 4\] in the train model but \[1, 5\] in the deploy model$/);
  });

  test('a file that is not ONNX', async () => {
    const [train] = pair('repvgg-bn');
    const bad = path.join(tmp.dir, 'bad.onnx');
    fs.writeFileSync(bad, 'not a model');
    const e = await rejection(benchModels(train, bad, { runs: 1 }));
    expect(e.message).toMatch(/bad\.onnx is not an ONNX model \(invalid wire type \d at byte 0\)/);
  });
});
