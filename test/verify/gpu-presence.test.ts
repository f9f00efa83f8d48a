// The default provider takes a real GPU when there is one and the CPU otherwise, and says why. Decided
// from device nodes and vulkaninfo before any GPU session opens; the facts are passed in here, and one
// test runs the real machine's.
import * as path from 'path';
import { hardwareGpu, GpuFacts, machineGpuFacts } from '../../src/verify/gpu-presence';
import { verifyModels } from '../../src/verify';
import { caseDir } from '../helpers/fixtures';
import { webgpuTest } from '../helpers/webgpu';

const facts = (o: Partial<GpuFacts> & { vulkan?: GpuFacts['vulkanDevices'] extends () => infer R ? R : never }): GpuFacts => ({
  platform: o.platform ?? 'linux',
  deviceNodes: o.deviceNodes ?? [],
  vulkanDevices: () => o.vulkan,
});

const LLVMPIPE = { name: 'llvmpipe (LLVM 15.0.6, 256 bits)', type: 'PHYSICAL_DEVICE_TYPE_CPU' };
const RTX = { name: 'NVIDIA GeForce RTX 4090', type: 'PHYSICAL_DEVICE_TYPE_DISCRETE_GPU' };

describe('hardwareGpu', () => {
  test('no device node: no GPU, whatever Vulkan offers (lavapipe needs none)', () => {
    expect(hardwareGpu(facts({ vulkan: [LLVMPIPE] }))).toEqual({ found: false, reason: expect.stringMatching(/^no GPU device node/) });
  });
  test('a device node and a hardware Vulkan device: found, named', () => {
    expect(hardwareGpu(facts({ deviceNodes: ['/dev/nvidia0'], vulkan: [LLVMPIPE, RTX] }))).toEqual({ found: true, evidence: RTX.name });
  });
  test('a device node but only software Vulkan devices: not found, named', () => {
    expect(hardwareGpu(facts({ deviceNodes: ['/dev/dri/renderD128'], vulkan: [LLVMPIPE] }))).toEqual({ found: false, reason: expect.stringContaining('llvmpipe') });
  });
  test('a device node and no vulkaninfo: the node is the evidence', () => {
    expect(hardwareGpu(facts({ deviceNodes: ['/dev/dri/renderD128'], vulkan: undefined }))).toEqual({ found: true, evidence: '/dev/dri/renderD128' });
  });
  test('Windows and macOS adapters are the machine’s GPUs', () => {
    expect(hardwareGpu(facts({ platform: 'darwin' })).found).toBe(true);
    expect(hardwareGpu(facts({ platform: 'win32' })).found).toBe(true);
  });
});

describe('the default provider (auto)', () => {
  const deploy = path.join(caseDir('repvgg-bn'), 'deploy_ref.onnx');

  test("on this machine's own facts it names what it found", async () => {
    const here = hardwareGpu(machineGpuFacts());
    const r = await verifyModels(deploy, deploy, {});
    expect(r.ok).toBe(true);
    if (here.found) expect(r.epReason).toMatch(/^auto: a GPU is here/);
    else {
      expect(r.ep).toBe('cpu');
      expect(r.epReason).toMatch(/^auto: no GPU here \(.*webgpu: /);
      expect(r.skippedEps.map((s) => s.ep)).toContain('webgpu');
    }
  });

  test('without a GPU it runs on the CPU and says why, for each provider it passed over', async () => {
    const r = await verifyModels(deploy, deploy, { gpuFacts: facts({ vulkan: [LLVMPIPE] }) });
    expect(r.ep).toBe('cpu');
    expect(r.skippedEps.find((s) => s.ep === 'webgpu')?.reason).toMatch(/^no GPU device node/);
    expect(r.epReason).toMatch(/^auto: no GPU here/);
  });

  webgpuTest()('with a GPU it takes WebGPU (this machine’s adapter stands in for one)', async () => {
    const r = await verifyModels(deploy, deploy, { gpuFacts: facts({ deviceNodes: ['/dev/dri/renderD128'], vulkan: [RTX] }) });
    expect(r.ok).toBe(true);
    expect(r.ep).toBe('webgpu');
    expect(r.epReason).toMatch(/^auto: a GPU is here/);
  });

  test('an explicit --ep is taken as asked', async () => {
    const r = await verifyModels(deploy, deploy, { ep: 'cpu' });
    expect(r.epReason).toBe('asked for (cpu)');
    expect(r.skippedEps).toEqual([]);
  });
});
