// The common shape of a checkpoint (named tensors in source order), how to dig it out of the wrappers
// training scripts put around it, and the entry checks and chunked byte streaming the checkpoint writers share.
import { DTYPES } from '../dtype';
import { UserError } from '../errors';
import { byteLength, streamLazyBytes, streamLazyInto, Tensor, tensorBytes } from '../tensor';
import { copyRange, FillTarget } from './sink';

export interface StateDict {
  /** Insertion order = source order. */
  readonly tensors: ReadonlyMap<string, Tensor>;
  readonly metadata: Readonly<Record<string, string>>;
  /** What the reader did beyond plain reading, e.g. "took the 'ema' entry", "stripped 'module.' prefix". */
  readonly notes: readonly string[];
  /** Releases the file the tensors are read from (set by the file readers); tensors are not read afterwards. */
  close?(): void;
}

export type TensorEntries = Iterable<readonly [string, Tensor]>;

/** Wrapper keys tried in this order when the top level is not itself a state dict. EMA weights first:
 * they are what YOLOv6/YOLOv7 evaluate and deploy. */
export const WRAPPER_KEYS: readonly string[] = ['ema', 'state_dict_ema', 'model_ema', 'state_dict', 'model', 'net'];

export interface UnwrapOptions {
  /** Take this top-level entry instead of guessing. */
  readonly entry?: string;
  /** Recognizes the tensors among the container's values. */
  readonly asTensor: (value: unknown) => Tensor | undefined;
  /** Names the file in messages. */
  readonly file: string;
}

const MAX_WRAPPER_DEPTH = 4;

/**
 * Finds the state dict inside a loaded checkpoint: the container itself when every value is a tensor,
 * else the first wrapper entry (see WRAPPER_KEYS) that holds one, then strips a `module.` prefix.
 */
export function unwrapStateDict(root: ReadonlyMap<unknown, unknown>, options: UnwrapOptions): Omit<StateDict, 'metadata'> {
  if (root.size === 0 && options.entry === undefined) return { tensors: new Map(), notes: ['the checkpoint is an empty dictionary'] };
  let current = root;
  const trail: string[] = [];
  let alsoPresent: string[] = [];
  for (let depth = 0; depth <= MAX_WRAPPER_DEPTH; depth++) {
    const direct = asTensorMap(current, options.asTensor);
    if (direct && (options.entry === undefined || depth > 0)) {
      const stripped = stripModulePrefix(direct);
      const taken = trail.length
        ? [`took the '${trail.join("' > '")}' entry` + (alsoPresent.length ? ` (also present: ${alsoPresent.map((k) => `'${k}'`).join(', ')})` : '')]
        : [];
      return { tensors: stripped.tensors, notes: [...taken, ...stripped.notes] };
    }
    let key: string | undefined;
    if (depth === 0 && options.entry !== undefined) {
      if (!current.has(options.entry)) {
        const keys = [...current.keys()].map(String);
        throw new UserError(`${options.file} has no top-level entry '${options.entry}' (it has ${listKeys(keys)})`, { code: 'BAD_USAGE' });
      }
      key = options.entry;
    } else {
      key = WRAPPER_KEYS.find((k) => isMap(current.get(k)) && holdsTensors(current.get(k) as ReadonlyMap<unknown, unknown>, options.asTensor));
    }
    if (key === undefined) break;
    if (depth === 0) alsoPresent = WRAPPER_KEYS.filter((k) => k !== key && current.has(k));
    trail.push(key);
    const next = current.get(key);
    if (!isMap(next)) throw new UserError(`${options.file}: entry '${trail.join("' > '")}' is not a dictionary of tensors`, { code: 'BAD_INPUT' });
    current = next;
  }
  const keys = [...root.keys()].map(String);
  throw new UserError(`${options.file} holds no state dict: no dictionary of tensors at the top level or under ${WRAPPER_KEYS.map((k) => `'${k}'`).join(', ')} (top-level keys: ${listKeys(keys)})`, {
    code: 'BAD_INPUT',
    hint: 'save only the weights in Python: torch.save(model.state_dict(), "weights.pth")',
  });
}

/** Removes a `module.` prefix (DataParallel) when every key has it, repeatedly. */
export function stripModulePrefix(tensors: ReadonlyMap<string, Tensor>): { tensors: ReadonlyMap<string, Tensor>; notes: string[] } {
  const prefix = 'module.';
  let current = tensors;
  let count = 0;
  while (current.size > 0 && [...current.keys()].every((k) => k.startsWith(prefix) && k.length > prefix.length)) {
    const next = new Map<string, Tensor>();
    for (const [k, t] of current) next.set(k.slice(prefix.length), t);
    current = next;
    count++;
  }
  return { tensors: current, notes: count ? [`stripped '${prefix.repeat(count)}' prefix`] : [] };
}

function asTensorMap(m: ReadonlyMap<unknown, unknown>, asTensor: UnwrapOptions['asTensor']): Map<string, Tensor> | undefined {
  if (m.size === 0) return undefined;
  const out = new Map<string, Tensor>();
  for (const [k, v] of m) {
    const t = asTensor(v);
    if (typeof k !== 'string' || !t) return undefined;
    out.set(k, t);
  }
  return out;
}

function holdsTensors(m: ReadonlyMap<unknown, unknown>, asTensor: UnwrapOptions['asTensor'], depth = 0): boolean {
  if (asTensorMap(m, asTensor)) return true;
  if (depth >= MAX_WRAPPER_DEPTH) return false;
  return WRAPPER_KEYS.some((k) => isMap(m.get(k)) && holdsTensors(m.get(k) as ReadonlyMap<unknown, unknown>, asTensor, depth + 1));
}

function isMap(v: unknown): v is ReadonlyMap<unknown, unknown> {
  return v instanceof Map;
}

function listKeys(keys: readonly string[]): string {
  const shown = keys.slice(0, 12).map((k) => `'${k}'`).join(', ');
  return keys.length > 12 ? `${shown}, … (${keys.length} in all)` : shown || 'none';
}

/** Checks the entries a writer is given: unique names, known dtypes; returns them as an array. */
export function collectEntries(entries: TensorEntries): Array<readonly [string, Tensor]> {
  const out: Array<readonly [string, Tensor]> = [];
  const seen = new Set<string>();
  for (const [name, t] of entries) {
    if (seen.has(name)) throw new UserError(`tensor name '${name}' appears twice`, { code: 'BAD_USAGE' });
    if (!DTYPES.has(t.dtype)) throw new UserError(`tensor '${name}' has unknown dtype ${t.dtype}`, { code: 'UNSUPPORTED' });
    const expected = byteLength(t);
    const actual = t.data.kind === 'memory' ? t.data.bytes.length : t.data.kind === 'range' ? t.data.range.length : expected;
    if (actual !== expected) throw new Error(`tensor '${name}' of shape [${t.shape}] has ${actual} bytes, expected ${expected}`);
    seen.add(name);
    out.push([name, t]);
  }
  return out;
}

// ---- streaming output ----

const CHUNK = 16 << 20;

/** Where a writer puts a tensor's bytes: given whole, or filled in place into the writer's buffer. */
export interface TensorOut extends FillTarget {
  write(bytes: Uint8Array): void;
}

/**
 * A tensor's bytes into `out`, in order: a merge that streams is merged in the writer's buffer, a file
 * range is read straight into it; anything else is written in chunks.
 */
export function writeTensorTo(out: TensorOut, t: Tensor): void {
  if (t.data.kind === 'lazy' && t.data.stream) streamLazyInto(t, (n, fill) => out.fill(n, fill));
  else if (t.data.kind === 'range') copyRange(out, t.data.range);
  else forEachChunk(t, (b) => out.write(b));
}

/** Calls `fn` with the tensor's bytes in order, at most `chunk` bytes at a time for file ranges (never read whole). */
export function forEachChunk(t: Tensor, fn: (bytes: Uint8Array) => void, chunk = CHUNK): void {
  switch (t.data.kind) {
    case 'range': {
      const r = t.data.range;
      for (let off = 0; off < r.length; off += chunk) fn(r.source.read(r.offset + off, Math.min(chunk, r.length - off)));
      return;
    }
    case 'memory':
    case 'lazy': {
      const slices = (b: Uint8Array) => {
        for (let off = 0; off < b.length; off += chunk) fn(b.subarray(off, Math.min(off + chunk, b.length)));
      };
      if (t.data.kind === 'lazy') streamLazyBytes(t, slices);
      else slices(tensorBytes(t));
      return;
    }
  }
}
