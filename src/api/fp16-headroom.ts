// How close a model's activations come to float16's range. The float32 deploy graph is checked before the
// cast with every block end compared (per-block.ts), which also gives each block's largest |activation|
// on the check's inputs. A block whose values reach 65504 overflows in float16 (to Infinity, then NaN);
// TensorRT can keep such layers in float32: the flags to say so are printed for the blocks that need it.
import { FLOAT16_MAX } from '../tensor';
import type { VerifyReport } from '../verify';

export interface BlockHeadroom {
  /** The deploy graph's node (TensorRT names its layers after them). */
  readonly node: string;
  readonly value: string;
  /** Largest |activation| over the check's inputs. */
  readonly maxAbs: number;
  /** 65504 ÷ maxAbs: below 1, float16 overflows; below NEAR, it comes within that factor. */
  readonly headroom: number;
}

/** A block within this factor of float16's largest value is reported as near it. */
export const NEAR = 4;

export interface Fp16Headroom {
  readonly limit: number;
  readonly blocks: readonly BlockHeadroom[];
  /** Nodes whose activations reach float16's largest value: they must stay float32. */
  readonly mustStayFp32: readonly string[];
  /** Nodes within a factor NEAR of it (other inputs may take them over). */
  readonly near: readonly string[];
  /** trtexec flags keeping mustStayFp32 in float32; absent when none must. */
  readonly trtexecFlags?: string;
}

export function fp16Headroom(check: VerifyReport): Fp16Headroom | undefined {
  if (!check.blocks) return undefined;
  const blocks = check.blocks.flatMap((b) =>
    b.maxAbsCandidate === null ? [] : [{ node: b.node, value: b.value, maxAbs: b.maxAbsCandidate, headroom: b.maxAbsCandidate > 0 ? FLOAT16_MAX / b.maxAbsCandidate : Infinity }],
  );
  const mustStayFp32 = blocks.filter((b) => b.headroom <= 1).map((b) => b.node);
  const near = blocks.filter((b) => b.headroom > 1 && b.headroom < NEAR).map((b) => b.node);
  const trtexecFlags = mustStayFp32.length ? `--precisionConstraints=obey --layerPrecisions=${mustStayFp32.map((n) => `${quoteLayer(n)}:fp32`).join(',')}` : undefined;
  return { limit: FLOAT16_MAX, blocks, mustStayFp32, near, ...(trtexecFlags ? { trtexecFlags } : {}) };
}

/** trtexec splits --layerPrecisions on ',' and ':': a layer name holding either is quoted. */
function quoteLayer(name: string): string {
  return /[,:'"\s]/.test(name) ? `'${name.replace(/'/g, "\\'")}'` : name;
}
