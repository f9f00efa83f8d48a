// Is there a GPU a check could run on? Asked before any GPU session is opened, so a machine without one
// pays nothing for the question: on Linux a GPU shows as a device node (/dev/dri/renderD* for Mesa and
// most drivers, /dev/nvidia* for NVIDIA's), and where nodes exist, `vulkaninfo` (when installed) says
// whether each Vulkan device is hardware or a software rasteriser such as lavapipe.
import * as fs from 'fs';
import { execFileSync } from 'child_process';
import { VulkanDevice, parseVulkanSummary } from './device';

export type GpuPresence = { readonly found: true; readonly evidence: string } | { readonly found: false; readonly reason: string };

/** What the answer is made from; tests pass their own. */
export interface GpuFacts {
  readonly platform: NodeJS.Platform;
  /** GPU device nodes present (Linux). */
  readonly deviceNodes: readonly string[];
  /** Vulkan devices, or undefined when vulkaninfo is not installed or failed. */
  vulkanDevices(): readonly VulkanDevice[] | undefined;
}

export function machineGpuFacts(): GpuFacts {
  return {
    platform: process.platform,
    deviceNodes: process.platform === 'linux' ? deviceNodes() : [],
    vulkanDevices: () => {
      try {
        return parseVulkanSummary(execFileSync('vulkaninfo', ['--summary'], { encoding: 'utf8', timeout: 20000, stdio: ['ignore', 'pipe', 'ignore'] }));
      } catch {
        // vulkaninfo is optional (vulkan-tools): without it, device nodes are the evidence.
        return undefined;
      }
    },
  };
}

function deviceNodes(): string[] {
  const nodes: string[] = [];
  const list = (dir: string, pattern: RegExp) => {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return; // no such folder: no device of that kind
    }
    for (const n of names) if (pattern.test(n)) nodes.push(`${dir}/${n}`);
  };
  list('/dev/dri', /^renderD\d+$/);
  list('/dev', /^nvidia\d+$/);
  return nodes;
}

/** Whether a hardware GPU is here for WebGPU, and what says so (or why not). */
export function hardwareGpu(facts: GpuFacts = machineGpuFacts()): GpuPresence {
  // Dawn uses D3D12 on Windows and Metal on macOS, where the adapters it picks are the machine's GPUs.
  if (facts.platform === 'win32' || facts.platform === 'darwin') return { found: true, evidence: `${facts.platform === 'win32' ? 'D3D12' : 'Metal'} adapter` };
  if (facts.deviceNodes.length === 0) {
    return { found: false, reason: 'no GPU device node (/dev/dri/renderD*, /dev/nvidia*); a software adapter such as lavapipe runs only with --ep webgpu' };
  }
  const devices = facts.vulkanDevices();
  if (devices === undefined) return { found: true, evidence: facts.deviceNodes.join(', ') };
  const hardware = devices.filter((d) => !/CPU/.test(d.type));
  if (hardware.length === 0) {
    const names = devices.map((d) => d.name).join('; ') || 'none';
    return { found: false, reason: `the only Vulkan devices are software (${names}), which run only with --ep webgpu` };
  }
  return { found: true, evidence: hardware.map((d) => d.name).join('; ') };
}
