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
  return loaded;
}

/** The version the reports record: onnxruntime-node's, else onnxruntime-common's. */
export function runtimeVersion(): string {
  const { env } = onnxruntime();
  return env.versions.node ?? env.versions.common;
}
