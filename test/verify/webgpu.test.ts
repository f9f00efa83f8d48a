// The WebGPU path. Runs when a WebGPU adapter exists (on a machine without a GPU: Mesa lavapipe, see
// docs/verify.md) and is skipped, visibly, when none does. Where an adapter is required (see helpers/webgpu-probe.ts) the skip is
// a failure, so CI cannot pass by silently losing its adapter.
import * as path from 'path';
import { DEFAULT_ATOL, DEFAULT_ATOL_FP16, probeWebGpu, verifyModels } from '../../src/verify';
import { writeFp16Copy } from './helpers/fp16-onnx';
import { tempDir } from './helpers/tiny-onnx';
import { probeWebGpuInChild, WEBGPU_REQUIRED as REQUIRED } from './helpers/webgpu-probe';

const probe = probeWebGpuInChild();
if (!probe.available) {
  console.warn(`WebGPU tests skipped: no WebGPU adapter (${probe.reason})${REQUIRED ? ' but one is required (lavapipe is installed, or REPVGG_REQUIRE_WEBGPU=1)' : ''}`);
}
const webgpuTest = probe.available ? test : test.skip;

const FIXTURE = path.join(__dirname, '..', '..', 'fixtures', 'onnx', 'repvgg-bn');

describe('WebGPU', () => {
  if (!probe.available && REQUIRED) {
    test('an adapter is required (lavapipe installed or REPVGG_REQUIRE_WEBGPU=1)', () => {
      throw new Error(`no WebGPU adapter: ${probe.reason}. See docs/verify.md for WebGPU on Mesa lavapipe.`);
    });
  }

  webgpuTest('the in-process probe agrees and names the adapter', async () => {
    const p = await probeWebGpu();
    expect(p.available).toBe(true);
    if (p.available) expect(p.device.name.length).toBeGreaterThan(0);
  });

  webgpuTest('a true pair passes with the candidate on WebGPU', async () => {
    const report = await verifyModels(path.join(FIXTURE, 'train.onnx'), path.join(FIXTURE, 'deploy_ref.onnx'), { ep: 'webgpu', samples: 2 });
    expect(report.ep).toBe('webgpu');
    expect(report.referenceEp).toBe('cpu');
    expect(report.ok).toBe(true);
    expect(report.outputs.output.maxAbsError).toBeLessThan(DEFAULT_ATOL);
    expect(report.device.name).not.toBe('');
  });

  webgpuTest('auto takes WebGPU only on a hardware adapter: a software one (lavapipe) leaves the check on the CPU', async () => {
    const deploy = path.join(FIXTURE, 'deploy_ref.onnx');
    const report = await verifyModels(deploy, deploy, { ep: 'auto' });
    if (report.device.software || report.ep === 'cpu') {
      expect(report.ep).toBe('cpu');
      expect(report.skippedEps.find((s) => s.ep === 'webgpu')?.reason).toMatch(/software|no GPU device node/);
    } else expect(report.ep).toBe('webgpu');
  });

  webgpuTest('an FP16 candidate passes on WebGPU under the FP16 defaults', async () => {
    const t = tempDir();
    try {
      const fp16 = path.join(t.dir, 'deploy-fp16.onnx');
      writeFp16Copy(path.join(FIXTURE, 'deploy_ref.onnx'), fp16, 'io');
      const report = await verifyModels(path.join(FIXTURE, 'train.onnx'), fp16, { ep: 'webgpu', samples: 2 });
      expect(report).toMatchObject({ ok: true, ep: 'webgpu', precision: 'fp16', atol: DEFAULT_ATOL_FP16 });
      expect(report.outputs.output.candidateDtype).toBe('float16');
      expect(report.outputs.output.fp32Exceed!.count).toBeGreaterThan(0);
    } finally {
      t.cleanup();
    }
  });

  if (!probe.available && !REQUIRED) {
    test.skip(`WebGPU path (no adapter: ${probe.reason})`, () => {});
  }
});
