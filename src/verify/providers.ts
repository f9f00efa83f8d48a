// Execution providers: opening sessions on the CPU, WebGPU, CUDA or TensorRT providers, and saying
// exactly what is missing when one cannot run. Nothing here falls back silently: `auto` records every
// provider it passed over and why.
import * as fs from 'fs';
import * as path from 'path';
import type { InferenceSession } from 'onnxruntime-node';
import { FormatError, UserError } from '../errors';
import { checkExternalDataFiles } from '../formats/onnx/data-location';
import { cpuDevice, DeviceInfo, webgpuDevice } from './device';
import { AUTO_ORDER, EpChoice, EpName } from './ep-choices';
import { GpuFacts, hardwareGpu } from './gpu-presence';
import { probeModel } from './probe-model';
import { OrtHost, RemoteSession } from './ort-host';
import { onnxruntime } from './runtime';

export { AUTO_ORDER, EP_CHOICES } from './ep-choices';
export type { EpChoice, EpName } from './ep-choices';

export interface Skipped {
  readonly ep: EpName;
  readonly reason: string;
}

export interface OpenedSession {
  readonly session: RemoteSession;
  readonly ep: EpName;
  readonly device: DeviceInfo;
  /** Providers `auto` tried first and could not use. */
  readonly skipped: readonly Skipped[];
  /** Why the session runs on `ep`: the provider asked for, or what `auto` found. */
  readonly reason: string;
}

export interface OpenOptions {
  /** The process onnxruntime runs in (see ort-host.ts). */
  readonly host: OrtHost;
  /** onnxruntime graph optimisations; the reference runs without them so it evaluates the graph as written. */
  readonly optimization?: InferenceSession.SessionOptions['graphOptimizationLevel'];
  /** What `auto` knows of the machine's GPUs (tests pass their own). */
  readonly gpuFacts?: GpuFacts;
  /** CPU sessions without a memory arena and without prepacked weights: one copy of the weights, a quick start. */
  readonly lean?: boolean;
}

/** Where onnxruntime-node keeps its native libraries, including optional provider libraries. */
export function providerLibraryDir(): string {
  const pkg = path.dirname(require.resolve('onnxruntime-node/package.json'));
  return path.join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
}

function libraryName(base: string): string {
  return process.platform === 'win32' ? `${base}.dll` : `lib${base}.so`;
}

const INSTALL_HINT =
  'onnxruntime-node downloads its CUDA/TensorRT provider libraries when it is installed on linux/x64 (not when ' +
  'ONNXRUNTIME_NODE_INSTALL=skip, nor in a clone of repvgg-convert); fetch them with ' +
  '`ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install`. ' +
  'They also need CUDA 12 and cuDNN 9 on the library path';

/** The provider libraries `ep` needs that onnxruntime-node does not have here. */
export function missingProviderLibraries(ep: 'cuda' | 'tensorrt', dir: string = providerLibraryDir()): string[] {
  const needed = ['onnxruntime_providers_shared', 'onnxruntime_providers_cuda'];
  if (ep === 'tensorrt') needed.push('onnxruntime_providers_tensorrt');
  return needed.map(libraryName).filter((f) => !fs.existsSync(path.join(dir, f)));
}

/** Throws MISSING_RUNTIME unless onnxruntime-node has the provider libraries `ep` needs. */
export function checkGpuProviderLibraries(ep: 'cuda' | 'tensorrt', dir: string = providerLibraryDir()): void {
  const supported = onnxruntime().listSupportedBackends().some((b) => b.name === ep);
  if (!supported) {
    throw new UserError(`the ${label(ep)} execution provider is not available in onnxruntime-node on ${process.platform}/${process.arch}`, {
      code: 'MISSING_RUNTIME',
      hint: 'onnxruntime-node ships CUDA and TensorRT support for linux/x64 only',
    });
  }
  const missing = missingProviderLibraries(ep, dir);
  if (missing.length > 0) {
    throw new UserError(`the ${label(ep)} execution provider is not installed: ${missing.join(', ')} missing from ${dir}`, {
      code: 'MISSING_RUNTIME',
      hint: ep === 'tensorrt' ? `${INSTALL_HINT}, and TensorRT 10` : INSTALL_HINT,
    });
  }
}

function label(ep: EpName): string {
  return { cpu: 'CPU', webgpu: 'WebGPU', cuda: 'CUDA', tensorrt: 'TensorRT' }[ep];
}

const WEBGPU_HINT =
  'WebGPU needs a Vulkan driver Dawn accepts. Without a GPU, use Mesa lavapipe 24 or newer: on Debian bookworm ' +
  '`apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1` (bookworm\'s Mesa 22 is refused), ' +
  'and set XDG_RUNTIME_DIR';

/** Fails early, before any model is loaded, when the chosen provider cannot exist here. */
export function checkProviderPresent(ep: EpChoice): void {
  if (ep === 'cuda' || ep === 'tensorrt') checkGpuProviderLibraries(ep);
  if (ep === 'webgpu' && !onnxruntime().listSupportedBackends().some((b) => b.name === 'webgpu')) {
    throw new UserError(`the WebGPU execution provider is not built into onnxruntime-node on ${process.platform}/${process.arch}`, {
      code: 'MISSING_RUNTIME',
    });
  }
}

export async function openReference(file: string, options: OpenOptions): Promise<OpenedSession> {
  const session = await load(file, 'cpu', options);
  return { session, ep: 'cpu', device: cpuDevice(), skipped: [], reason: 'the reference always runs on the CPU' };
}

/**
 * A session on `ep`; `auto` takes a real GPU when there is one (CUDA where its provider libraries are
 * installed and it starts, else WebGPU on a hardware adapter) and the CPU otherwise, and says why. A
 * software WebGPU adapter (lavapipe) is never taken by `auto`: it is slow and shows nothing about GPUs;
 * `ep: 'webgpu'` still runs on it.
 */
export async function openCandidate(file: string, ep: EpChoice, options: OpenOptions): Promise<OpenedSession> {
  if (ep !== 'auto') {
    const session = await load(file, ep, options);
    return { session, ep, device: deviceOf(ep), skipped: [], reason: `asked for (${ep})` };
  }
  const skipped: Skipped[] = [];
  for (const name of AUTO_ORDER) {
    const absent = gpuAbsent(name, options.gpuFacts);
    if (absent) {
      skipped.push({ ep: name, reason: absent });
      continue;
    }
    try {
      const session = await load(file, name, options);
      const device = deviceOf(name);
      return { session, ep: name, device, skipped, reason: `auto: a GPU is here (${device.name !== 'unknown' ? device.name : label(name)})` };
    } catch (e) {
      // Only a provider that cannot start moves `auto` on; a bad model is the same on every provider.
      if (!(e instanceof UserError) || e.code !== 'MISSING_RUNTIME') throw e;
      skipped.push({ ep: name, reason: e.message });
    }
  }
  const session = await load(file, 'cpu', options);
  return { session, ep: 'cpu', device: cpuDevice(), skipped, reason: `auto: no GPU here (${skipped.map((s) => `${s.ep}: ${s.reason}`).join('; ')})` };
}

/** Why `auto` need not try `ep` here, found without opening a session; undefined when it should try. */
function gpuAbsent(ep: EpName, facts: GpuFacts | undefined): string | undefined {
  if (!onnxruntime().listSupportedBackends().some((b) => b.name === ep)) return `onnxruntime-node has no ${label(ep)} provider on ${process.platform}/${process.arch}`;
  if (ep === 'cuda' || ep === 'tensorrt') return missingProviderLibraries(ep).length > 0 ? 'its provider libraries are not installed' : undefined;
  if (ep === 'webgpu') {
    const gpu = hardwareGpu(facts);
    return gpu.found ? undefined : gpu.reason;
  }
  return undefined;
}

function deviceOf(ep: EpName): DeviceInfo {
  if (ep === 'cpu') return cpuDevice();
  if (ep === 'webgpu') return webgpuDevice();
  return { name: 'unknown', source: 'none' };
}

/**
 * onnxruntime logs warnings to stderr by default, one line per initializer that is also a graph input
 * (common in older exports), between our report's lines and past --quiet. Errors still show; whatever
 * makes a session fail also comes back as its error, which the report quotes.
 */
const SESSION_LOG = { logSeverityLevel: 3 } as const;

async function load(file: string, ep: EpName, options: OpenOptions): Promise<RemoteSession> {
  // onnxruntime follows external data locations by itself: only regular files inside the model's folder.
  checkExternalDataFiles(file);
  const sessionOptions: InferenceSession.SessionOptions = {
    ...SESSION_LOG,
    executionProviders: [ep],
    ...(options.optimization ? { graphOptimizationLevel: options.optimization } : {}),
    ...(options.lean && ep === 'cpu' ? { enableCpuMemArena: false, extra: { session: { disable_prepacking: '1' } } } : {}),
  };
  onnxruntime(); // first: a runtime that cannot load is not the model's fault
  try {
    return await options.host.open(file, sessionOptions);
  } catch (e) {
    if (e instanceof UserError) throw e; // the watchdog's
    const message = messageOf(e);
    if (ep === 'cpu') throw notLoadable(file, message, e);
    // Tell a provider failure from a bad model: if the CPU provider loads it, the model is fine.
    const cpuError = await cpuLoadError(file, options.host);
    if (cpuError !== undefined) throw notLoadable(file, messageOf(cpuError), cpuError);
    throw providerFailed(ep, message, e);
  }
}

/** The CPU provider's error loading `file`, or undefined when it loads. */
async function cpuLoadError(file: string, host: OrtHost): Promise<unknown> {
  let session: RemoteSession;
  try {
    session = await host.open(file, { ...SESSION_LOG, executionProviders: ['cpu'] });
  } catch (e) {
    if (e instanceof UserError) throw e;
    return e;
  }
  await session.release();
  return undefined;
}

/** A file onnxruntime cannot parse is not ONNX; one it parses but cannot build is unsupported. */
function notLoadable(file: string, ortMessage: string, cause: unknown): UserError {
  const reason = ortReason(ortMessage.replace(/^Load model from .*? failed:/s, ''));
  if (/protobuf parsing failed|INVALID_PROTOBUF/i.test(reason)) return new FormatError(file, 'an ONNX model', `onnxruntime: ${reason}`);
  return new UserError(`onnxruntime cannot load ${file}: ${reason}`, { code: 'UNSUPPORTED', cause });
}

function providerFailed(ep: EpName, message: string, cause: unknown): UserError {
  if (ep === 'webgpu') {
    const oldMesa = /ArrayDynamicIndexing/.test(message);
    return new UserError(`the WebGPU execution provider cannot run here: ${ortReason(message)}`, {
      code: 'MISSING_RUNTIME',
      hint: oldMesa ? `this Vulkan driver is too old for Dawn. ${WEBGPU_HINT}` : WEBGPU_HINT,
      cause,
    });
  }
  if (ep === 'cuda' || ep === 'tensorrt') {
    return new UserError(`the ${label(ep)} execution provider failed to start: ${ortReason(message)}`, {
      code: 'MISSING_RUNTIME',
      hint: ep === 'tensorrt' ? `${INSTALL_HINT}, and TensorRT 10` : INSTALL_HINT,
      cause,
    });
  }
  return new UserError(ortReason(message), { code: 'UNSUPPORTED', cause });
}

/** onnxruntime's errors may come from another realm (e.g. under jest), so no instanceof Error. */
function messageOf(e: unknown): string {
  const m = typeof e === 'object' && e !== null ? (e as { message?: unknown }).message : undefined;
  return typeof m === 'string' ? m : String(e);
}

export function ortReason(message: string): string {
  // onnxruntime prefixes its source location ("/onnxruntime_src/...cc:136 fn(...) ..."); keep the readable tail.
  const line = message.split('\n')[0].trim();
  const tail = /\bwas false\. (.+)$/.exec(line)?.[1] ?? /\] (.+)$/.exec(line)?.[1];
  return tail ?? line;
}

export type WebGpuProbe = { readonly available: true; readonly device: DeviceInfo } | { readonly available: false; readonly reason: string };

/** Whether a WebGPU adapter exists, by running a one-node model on it. */
export async function probeWebGpu(): Promise<WebGpuProbe> {
  if (!onnxruntime().listSupportedBackends().some((b) => b.name === 'webgpu')) {
    return { available: false, reason: `onnxruntime-node has no WebGPU provider on ${process.platform}/${process.arch}` };
  }
  try {
    const s = await onnxruntime().InferenceSession.create(probeModel(), { ...SESSION_LOG, executionProviders: ['webgpu'] });
    await s.release();
    return { available: true, device: webgpuDevice() };
  } catch (e) {
    return { available: false, reason: ortReason(messageOf(e)) };
  }
}
