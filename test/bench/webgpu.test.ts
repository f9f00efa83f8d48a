// Benchmarking on WebGPU: both models run on the chosen provider. Runs when a WebGPU adapter exists
// and is skipped, visibly, when none does (where one is required, see test/verify/helpers/webgpu-probe.ts, that is a failure).
import * as path from 'path';
import { benchModels, formatBenchReport } from '../../src/bench';
import { probeWebGpuInChild, WEBGPU_REQUIRED } from '../verify/helpers/webgpu-probe';

const probe = probeWebGpuInChild();
const webgpuTest = probe.available ? test : test.skip;
const FIXTURE = path.join(__dirname, '..', '..', 'fixtures', 'onnx', 'repvgg-bn');

describe('bench on WebGPU', () => {
  if (!probe.available && WEBGPU_REQUIRED) {
    test('an adapter is required (lavapipe installed or REPVGG_REQUIRE_WEBGPU=1)', () => {
      throw new Error(`no WebGPU adapter: ${probe.reason}. See docs/verify.md for WebGPU on Mesa lavapipe.`);
    });
  }

  webgpuTest('--ep webgpu puts both models on WebGPU', async () => {
    const r = await benchModels(path.join(FIXTURE, 'train.onnx'), path.join(FIXTURE, 'deploy_ref.onnx'), { ep: 'webgpu', runs: 2, warmup: 1 });
    expect(r.ep).toBe('webgpu');
    expect(r.skippedEps).toEqual([]);
    expect(r.train.timesMs).toHaveLength(2);
    expect(r.deploy.timesMs).toHaveLength(2);
    expect(r.speedup).toBe(r.train.p50Ms / r.deploy.p50Ms);
    if (r.device.software) expect(formatBenchReport(r)).toMatch(/say nothing about GPUs/);
  });

  if (!probe.available && !WEBGPU_REQUIRED) {
    test.skip(`bench on WebGPU (no adapter: ${probe.reason})`, () => {});
  }
});
