// onnxruntime-node, loaded on first use. Loading it maps the native runtime (tens of milliseconds), so
// a conversion with --no-verify, inspect and --help never pay for it; every value import of the
// runtime goes through onnxruntime() and everything else uses `import type`.
import type * as Ort from 'onnxruntime-node';
import { UserError } from '../errors';

export type OnnxRuntime = typeof Ort;

let loaded: OnnxRuntime | undefined;

/** The onnxruntime-node module; a runtime that cannot load is MISSING_RUNTIME (exit 2), like a missing provider. */
export function onnxruntime(): OnnxRuntime {
  if (loaded) return loaded;
  try {
    loaded = require('onnxruntime-node') as OnnxRuntime;
  } catch (e) {
    // Not `instanceof Error`: under jest the loader's errors come from another realm.
    const m = typeof e === 'object' && e !== null ? (e as { message?: unknown }).message : undefined;
    const reason = (typeof m === 'string' ? m : String(e)).split('\n')[0];
    throw new UserError(`onnxruntime-node cannot be loaded: ${reason}`, {
      code: 'MISSING_RUNTIME',
      hint: 'reinstall it (npm rebuild onnxruntime-node); converting with --no-verify does not need it',
      cause: e,
    });
  }
  keepFloat16AsBits(loaded);
  return loaded;
}

/**
 * Where JavaScript has Float16Array (Node 23 and later), onnxruntime-common keeps float16 tensor data in
 * one, and the binding of onnxruntime-node 1.30 reads such an input's byte length as 0 ("not enough
 * space: expected 6144, got 0"). onnxruntime-common picks the array type once, at the first Tensor
 * made: made here with Float16Array out of sight, float16 data stays raw bits in a Uint16Array, which
 * the binding reads and which is what this project writes. Does nothing where Float16Array is absent.
 */
function keepFloat16AsBits(ort: OnnxRuntime): void {
  const own = Object.getOwnPropertyDescriptor(globalThis, 'Float16Array');
  if (!own?.configurable) return;
  delete (globalThis as { Float16Array?: unknown }).Float16Array;
  try {
    new ort.Tensor('float32', new Float32Array(1), [1]);
  } finally {
    Object.defineProperty(globalThis, 'Float16Array', own);
  }
}

/**
 * A float16 tensor from raw bits. If onnxruntime-common chose Float16Array before this project loaded
 * it (a library user made a Tensor first), the binding could not read the input: say so.
 */
export function float16Tensor(bits: Uint16Array, dims: readonly number[]): Ort.Tensor {
  const ort = onnxruntime();
  float16AsBits ??= takesFloat16Bits(ort);
  if (!float16AsBits) {
    throw new UserError('float16 inputs cannot be fed to onnxruntime-node here: onnxruntime-common keeps them in a Float16Array, whose size the binding reads as 0', {
      code: 'UNSUPPORTED',
      hint: 'check FP16 models with Node 22 or earlier, or load repvgg-convert before making any onnxruntime Tensor',
    });
  }
  return new ort.Tensor('float16', bits, dims);
}

let float16AsBits: boolean | undefined;

function takesFloat16Bits(ort: OnnxRuntime): boolean {
  try {
    return new ort.Tensor('float16', new Uint16Array(2), [2]).data instanceof Uint16Array;
  } catch {
    // onnxruntime-common tried to view the bits as its own float16 array type and could not: not bits either.
    return false;
  }
}

/** The version the reports record: onnxruntime-node's, else onnxruntime-common's. */
export function runtimeVersion(): string {
  const { env } = onnxruntime();
  return env.versions.node ?? env.versions.common;
}
