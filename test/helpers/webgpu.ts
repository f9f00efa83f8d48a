// Whether a WebGPU adapter exists, decided once at collection time by loading a one-node model in a
// child process (a crashing driver stays out of the test run). REPVGG_REQUIRE_WEBGPU=1 makes a missing
// adapter a failure instead of a visible skip.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { probeModel } from '../../src/verify/probe-model';

export const WEBGPU_REQUIRED = process.env.REPVGG_REQUIRE_WEBGPU === '1';

let cached: { available: boolean; reason: string } | undefined;

export function webgpuProbe(): { available: boolean; reason: string } {
  if (cached) return cached;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'repvgg-probe-'));
  try {
    const file = path.join(dir, 'probe.onnx');
    fs.writeFileSync(file, probeModel());
    const script = `require(${JSON.stringify(require.resolve('onnxruntime-node'))}).InferenceSession
      .create(${JSON.stringify(file)}, { executionProviders: ['webgpu'] })
      .then(() => process.exit(0), (e) => { console.log(String(e && e.message || e)); process.exit(3); });`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60000, env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? os.tmpdir() } });
    cached = r.status === 0 ? { available: true, reason: '' } : { available: false, reason: (r.stdout.trim() || r.stderr.trim() || `probe exited with ${r.status ?? r.signal}`).split('\n').pop()! };
    return cached;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** `test` when an adapter exists (or one is required, so the test fails loudly); else a visible skip. */
export function webgpuTest(): jest.It {
  const p = webgpuProbe();
  if (p.available || WEBGPU_REQUIRED) return test;
  console.warn(`WebGPU test skipped: no WebGPU adapter (${p.reason})`);
  return test.skip;
}
