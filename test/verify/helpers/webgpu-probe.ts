// Whether a WebGPU adapter exists, decided at test collection time (jest cannot skip from inside a
// running test) by trying a one-node model on WebGPU in a child process, which also keeps a crashing
// driver away from the test run. A missing adapter is a failure where Mesa's software Vulkan driver
// (lavapipe) is installed, as on CI, so the WebGPU tests cannot skip there unnoticed; REPVGG_REQUIRE_WEBGPU=1
// makes it one anywhere, =0 never.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { probeModel } from '../../../src/verify/probe-model';
import { ortReason } from '../../../src/verify/providers';
import { tempDir } from './tiny-onnx';

export interface ChildProbe {
  readonly available: boolean;
  readonly reason: string;
}

let cached: ChildProbe | undefined;

export function probeWebGpuInChild(): ChildProbe {
  if (cached) return cached;
  const t = tempDir();
  try {
    const file = path.join(t.dir, 'probe.onnx');
    fs.writeFileSync(file, probeModel());
    const script = `require(${JSON.stringify(require.resolve('onnxruntime-node'))}).InferenceSession
      .create(${JSON.stringify(file)}, { executionProviders: ['webgpu'] })
      .then(() => process.exit(0), (e) => { console.log(String(e && e.message || e)); process.exit(3); });`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60000 });
    if (r.status === 0) return (cached = { available: true, reason: '' });
    const why = r.stdout.trim() || r.stderr.trim() || `probe exited with ${r.status ?? r.signal}`;
    return (cached = { available: false, reason: ortReason(why.split('\n').pop()!) });
  } finally {
    t.cleanup();
  }
}

const LAVAPIPE_ICDS = ['/usr/share/vulkan/icd.d/lvp_icd.json', `/usr/share/vulkan/icd.d/lvp_icd.${process.arch === 'x64' ? 'x86_64' : process.arch}.json`];

export const WEBGPU_REQUIRED = process.env.REPVGG_REQUIRE_WEBGPU === '1' || (process.env.REPVGG_REQUIRE_WEBGPU !== '0' && LAVAPIPE_ICDS.some((f) => fs.existsSync(f)));
