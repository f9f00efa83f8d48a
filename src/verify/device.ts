// Names the hardware an execution provider ran on. onnxruntime-node does not expose the WebGPU adapter,
// so for WebGPU we ask `vulkaninfo` (vulkan-tools) and name the adapter only when there is exactly one
// Vulkan device, i.e. when Dawn had no other choice. Anything else is reported as unknown.
import { execFileSync } from 'child_process';
import * as os from 'os';

export interface DeviceInfo {
  readonly name: string;
  /** Where the name came from. */
  readonly source: 'os' | 'vulkaninfo' | 'none';
  /** True for software rasterisers (Mesa lavapipe/llvmpipe): correct results, timings meaningless. */
  readonly software?: boolean;
  readonly driver?: string;
}

export function cpuDevice(): DeviceInfo {
  const model = os.cpus()[0]?.model?.trim();
  return model ? { name: model, source: 'os' } : { name: 'unknown', source: 'none' };
}

export interface VulkanDevice {
  readonly name: string;
  readonly type: string;
  readonly driver?: string;
}

/** Parses the "Devices:" section of `vulkaninfo --summary`. */
export function parseVulkanSummary(text: string): VulkanDevice[] {
  const devices: VulkanDevice[] = [];
  const start = text.indexOf('Devices:');
  if (start < 0) return devices;
  for (const block of text.slice(start).split(/^GPU\d+:\s*$/m).slice(1)) {
    const get = (key: string): string | undefined => new RegExp(`^\\s*${key}\\s*=\\s*(.+?)\\s*$`, 'm').exec(block)?.[1];
    const name = get('deviceName');
    if (name) devices.push({ name, type: get('deviceType') ?? 'unknown', driver: get('driverInfo') ?? get('driverName') });
  }
  return devices;
}

let webgpuCache: DeviceInfo | undefined;

export function webgpuDevice(): DeviceInfo {
  if (webgpuCache) return webgpuCache;
  let text: string;
  try {
    text = execFileSync('vulkaninfo', ['--summary'], { encoding: 'utf8', timeout: 20000, stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    // vulkaninfo is optional: without it the adapter stays unnamed, which the report says.
    return (webgpuCache = { name: 'unknown', source: 'none' });
  }
  webgpuCache = describe(parseVulkanSummary(text));
  return webgpuCache;
}

export function describe(devices: readonly VulkanDevice[]): DeviceInfo {
  if (devices.length !== 1) {
    const names = devices.map((d) => d.name).join('; ');
    return { name: devices.length === 0 ? 'unknown' : `unknown (one of: ${names})`, source: 'none' };
  }
  const d = devices[0];
  return { name: d.name, source: 'vulkaninfo', software: /CPU/.test(d.type), ...(d.driver ? { driver: d.driver } : {}) };
}
