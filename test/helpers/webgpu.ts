// `test` when a WebGPU adapter exists (or one is required, so the test fails loudly); else a visible
// skip. The probe itself is the shared one in test/verify/helpers/webgpu-probe.ts.
import { WEBGPU_REQUIRED, probeWebGpuInChild } from '../verify/helpers/webgpu-probe';

export function webgpuTest(): jest.It {
  const p = probeWebGpuInChild();
  if (p.available || WEBGPU_REQUIRED) return test;
  console.warn(`WebGPU test skipped: no WebGPU adapter (${p.reason})`);
  return test.skip;
}
