// Whether a WebGPU adapter exists, decided at test collection time (jest cannot skip from inside a
// running test) by trying a one-node model on WebGPU in a child process, which also keeps a crashing
// driver away from the test run. REPVGG_REQUIRE_WEBGPU=1 makes a missing adapter a failure.
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

export const WEBGPU_REQUIRED = process.env.REPVGG_REQUIRE_WEBGPU === '1';
