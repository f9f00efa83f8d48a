// Naming the WebGPU adapter from `vulkaninfo --summary` output (recorded text, no GPU needed).
import { describe as describeDevices, parseVulkanSummary } from '../../src/verify/device';

const LAVAPIPE = `==========
VULKANINFO
==========

Vulkan Instance Version: 1.3.239

Devices:
========
GPU0:
\tapiVersion         = 1.4.305
\tdriverVersion      = 0.0.1
\tvendorID           = 0x10005
\tdeviceID           = 0x0000
\tdeviceType         = PHYSICAL_DEVICE_TYPE_CPU
\tdeviceName         = llvmpipe (LLVM 15.0.6, 256 bits)
\tdriverID           = DRIVER_ID_MESA_LLVMPIPE
\tdriverName         = llvmpipe
\tdriverInfo         = Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6)
\tconformanceVersion = 1.3.1.1
`;

const TWO = `${LAVAPIPE}GPU1:
\tapiVersion         = 1.3.280
\tdeviceType         = PHYSICAL_DEVICE_TYPE_DISCRETE_GPU
\tdeviceName         = NVIDIA GeForce RTX 4090
\tdriverName         = NVIDIA
`;

describe('WebGPU adapter name', () => {
  test('a single Vulkan device is the adapter, and lavapipe is flagged as software', () => {
    const devices = parseVulkanSummary(LAVAPIPE);
    expect(devices).toEqual([{ name: 'llvmpipe (LLVM 15.0.6, 256 bits)', type: 'PHYSICAL_DEVICE_TYPE_CPU', driver: 'Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6)' }]);
    expect(describeDevices(devices)).toEqual({
      name: 'llvmpipe (LLVM 15.0.6, 256 bits)',
      source: 'vulkaninfo',
      software: true,
      driver: 'Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6)',
    });
  });

  test('with several devices the adapter is not guessed', () => {
    const d = describeDevices(parseVulkanSummary(TWO));
    expect(d.source).toBe('none');
    expect(d.name).toBe('unknown (one of: llvmpipe (LLVM 15.0.6, 256 bits); NVIDIA GeForce RTX 4090)');
  });

  test('no devices, or text without a device section, give unknown', () => {
    expect(parseVulkanSummary('ERROR: no ICD found')).toEqual([]);
    expect(describeDevices([])).toEqual({ name: 'unknown', source: 'none' });
  });
});
