// What the check may spend: a time limit and a memory limit for onnxruntime's process (enforced by the
// watchdog in ort-host.ts), and, before anything runs, what a model declares it will compute. A file of
// a few hundred bytes can ask for a tensor of 16000 × 16000 floats (ConstantOfShape) or a Loop of 2^40
// iterations; such a model is refused before onnxruntime sees it, with the figure and the limit.
import * as fs from 'fs';
import { dtypeFromOnnx, dtypeInfo } from '../dtype';
import { UserError } from '../errors';
import { readOnnx } from '../formats/onnx/read';
import { printable } from '../formats/printable';
import { intsAttr } from '../ir/attribute';
import { constantNumbers } from '../ir/constants';
import { ConstantFolder } from '../ir/evaluate';
import { Node, Value } from '../ir/graph';
import { Dims, propagateShapes } from '../ir/shapes';
import type { HostLimits } from './ort-host';

/** Default time limit of a check or a benchmark (seconds). */
export const DEFAULT_TIME_LIMIT_S = 600;
/** The memory limit's floor: onnxruntime itself and a model's activations, whatever its weights (MiB). */
export const MEMORY_FLOOR_MIB = 1536;
/** Per byte of the largest model (weights in memory once, the outputs kept, the allocator's slack). */
const PER_MODEL_BYTE = 3;
/** One tensor may take this share of the memory limit. */
const TENSOR_SHARE = 4;
/** Loop iterations allowed per second of the time limit (onnxruntime runs a trivial body at ~1 µs). */
const LOOP_ITERATIONS_PER_S = 100_000;

export interface BudgetOptions {
  /** Memory limit of onnxruntime's process, MiB. Default: MEMORY_FLOOR_MIB plus 3 bytes per byte of the larger model. */
  readonly memoryLimit?: number;
  /** Time limit of the check, seconds. Default DEFAULT_TIME_LIMIT_S. */
  readonly timeLimit?: number;
}

/** The limits for a check of these models (their external data counted with them). */
export function checkLimits(options: BudgetOptions, models: readonly string[]): HostLimits {
  const largest = Math.max(0, ...models.map(modelBytes));
  const memoryBytes = options.memoryLimit !== undefined ? options.memoryLimit * 2 ** 20 : MEMORY_FLOOR_MIB * 2 ** 20 + PER_MODEL_BYTE * largest;
  return { memoryBytes, timeMs: (options.timeLimit ?? DEFAULT_TIME_LIMIT_S) * 1000 };
}

/** A model's file and its external data files, in bytes. */
function modelBytes(file: string): number {
  let m;
  try {
    m = readOnnx(file);
  } catch (e) {
    // A file this reader refuses is onnxruntime's to refuse or run; its own size is what it holds.
    if (e instanceof UserError) return fs.statSync(file).size;
    throw e;
  }
  try {
    return m.source.length + (m.dataFiles ?? []).reduce((n, f) => n + fs.statSync(f).size, 0);
  } finally {
    m.close();
  }
}

/**
 * Refuses a model whose graph, with these input shapes, declares a tensor larger than the memory limit
 * allows one tensor, or a Loop with more iterations than the time limit allows. Shapes that cannot be
 * worked out are left to the watchdog; so is a model this project's reader does not take.
 */
export function checkDeclared(file: string, inputShapes: ReadonlyMap<string, Dims>, limits: HostLimits): void {
  let m;
  try {
    m = readOnnx(file);
  } catch (e) {
    if (e instanceof UserError) return;
    throw e;
  }
  try {
    const g = m.graph;
    const opset = m.opsets.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 13;
    const shapes = propagateShapes(g, inputShapes, opset);
    const folder = new ConstantFolder((v) => shapes.get(v));
    const numbers = (v: Value | null | undefined): number[] | undefined => {
      const c = constantNumbers(v);
      if (c || !v) return c;
      const f = folder.fold(v);
      return f && f.data.length <= 64 ? Array.from(f.data) : undefined;
    };
    const tensorLimit = limits.memoryBytes / TENSOR_SHARE;
    const loopLimit = (limits.timeMs / 1000) * LOOP_ITERATIONS_PER_S;
    const size = m.source.length;
    for (const n of g.nodes) {
      if (n.domain !== '' && n.domain !== 'ai.onnx') continue;
      if (n.opType === 'Loop') {
        const trips = numbers(n.inputs[0]);
        if (trips && trips.length === 1 && trips[0] > loopLimit) {
          throw new UserError(`${file}: ${printable(n.label, 80)} runs ${trips[0]} times (its trip count is a constant), far more work than a ${size}-byte model needs; the check does not run it`, {
            code: 'BAD_INPUT',
            hint: `the check allows ${loopLimit} iterations for its time limit; raise it with --time-limit SECONDS (timeLimit) if the model is meant to`,
          });
        }
        continue;
      }
      for (const [i, o] of n.outputs.entries()) {
        const dims = shapes.get(o) ?? generated(n, i, shapes, numbers);
        if (!dims) continue;
        const bytes = dims.reduce((a, b) => a * b, 1) * elementBytes(o, n);
        if (bytes > tensorLimit) {
          throw new UserError(
            `${file}: ${printable(n.label, 80)} makes a tensor of [${dims.join(', ')}] (${mib(bytes)}), out of proportion with a ${size}-byte model; the check does not run it`,
            { code: 'BAD_INPUT', hint: `one tensor may take a quarter of the check's memory limit (${mib(limits.memoryBytes)}); raise it with --memory-limit MIB (memoryLimit) if the model is meant to` },
          );
        }
      }
    }
  } finally {
    m.close();
  }
}

/** Output shapes of the ops that make tensors from a few numbers, which the shape propagator leaves unknown. */
function generated(n: Node, output: number, shapes: ReadonlyMap<Value, Dims>, numbers: (v: Value | null | undefined) => number[] | undefined): Dims | undefined {
  if (output !== 0) return undefined;
  const x = n.inputs[0] ? shapes.get(n.inputs[0]) : undefined;
  switch (n.opType) {
    case 'ConstantOfShape':
      return numbers(n.inputs[0]);
    case 'RandomNormal':
    case 'RandomUniform':
      return intsAttr(n.attributes, 'shape');
    case 'Expand': {
      const to = numbers(n.inputs[1]);
      if (!to || !x) return to;
      const rank = Math.max(x.length, to.length);
      return Array.from({ length: rank }, (_, i) => Math.max(x[x.length - rank + i] ?? 1, to[to.length - rank + i] ?? 1));
    }
    case 'Tile': {
      const reps = numbers(n.inputs[1]);
      return x && reps && reps.length === x.length ? x.map((d, i) => d * reps[i]) : undefined;
    }
    case 'Range': {
      const [start, limit, delta] = [numbers(n.inputs[0]), numbers(n.inputs[1]), numbers(n.inputs[2])].map((v) => v?.[0]);
      if (start === undefined || limit === undefined || !delta) return undefined;
      return [Math.max(0, Math.ceil((limit - start) / delta))];
    }
    default:
      return undefined;
  }
}

/** Bytes of one element of a node's output: its recorded type, else its first input's, else 4. */
function elementBytes(o: Value, n: Node): number {
  if (n.opType === 'ConstantOfShape') {
    const v = n.attributes.get('value')?.value;
    return v?.type === 'tensor' ? dtypeInfo(v.value.dtype).size : 4;
  }
  const code = o.type?.elemType;
  const fromCode = code !== undefined ? dtypeFromOnnx(code) : undefined;
  if (fromCode) return dtypeInfo(fromCode.dtype).size;
  const input = n.inputs[0]?.initializer?.tensor.dtype;
  return input ? dtypeInfo(input).size : 4;
}

const mib = (b: number) => `${b >= 2 ** 30 ? `${+(b / 2 ** 30).toFixed(1)} GiB` : `${Math.round(b / 2 ** 20)} MiB`}`;
