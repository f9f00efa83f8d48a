// The allow-list that makes a PyTorch pickle data-only, in the spirit of torch.load(weights_only=True):
// the few torch rebuild functions, storage types, OrderedDict and plain containers. Any other global is
// refused by name before anything is built. Tensors come out as lazy ranges over their storages.
import { DType, dtypeFromTorchStorage, dtypeInfo, numel } from '../../dtype';
import { DecodeError, UserError } from '../../errors';
import { Tensor, tensorFromRange } from '../../tensor';
import { ByteRange } from '../bytes';
import { printable } from '../printable';
import { StridedViewSource } from './lazy-views';
import { describe, HostValue, PyBytes, PyDict, PyGlobal, PySet, PyTuple, PyValue, UnpickleHooks } from './pickle';

export class StorageType extends HostValue {
  readonly pyType = 'torch storage type';
  constructor(readonly dtype: DType, readonly qualname: string) {
    super();
  }
}

export class StorageValue extends HostValue {
  readonly pyType = 'torch storage';
  constructor(readonly key: string, readonly dtype: DType, readonly numel: number, readonly location: string, readonly range: ByteRange) {
    super();
  }
}

export class TensorValue extends HostValue {
  readonly pyType = 'torch.Tensor';
  constructor(readonly tensor: Tensor, readonly storage: StorageValue, readonly contiguous: boolean) {
    super();
  }
}

/** A Parameter's state (e.g. hooks) is dropped: only `.data` matters here. */
class ParameterValue extends TensorValue {
  override setState(): void {}
}

export interface TorchContext {
  readonly file: string;
  /** Size of the checkpoint file: no tensor may hold more bytes than that (an expanded view could ask for terabytes). */
  readonly fileBytes?: number;
  /** The bytes of storage `key` as little-endian elements of `dtype`; checks the archive entry. */
  storageRange(key: string, dtype: DType, numel: number, at: number): ByteRange;
}

/** Every global a checkpoint may name; the `torch.<X>Storage` types come from the dtype table. */
export const ALLOWED_GLOBALS: readonly string[] = [
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
  'torch._utils._rebuild_parameter_with_state',
  'torch._tensor._rebuild_from_type_v2',
  'torch.Size',
  'torch.Tensor',
  'torch._tensor.Tensor',
  'torch.nn.parameter.Parameter',
  'builtins.set',
  'builtins.frozenset',
  'builtins.bytes',
  'builtins.bytearray',
  '__builtin__.set',
  '__builtin__.frozenset',
  '__builtin__.bytes',
  '__builtin__.bytearray',
  '_codecs.encode',
];

export function torchHooks(ctx: TorchContext): UnpickleHooks {
  const storages = new Map<string, StorageValue>();
  const globals = new Map<string, PyGlobal>();
  const def = (qualname: string, call: PyGlobal['call'], isClass = false) => {
    const dot = qualname.lastIndexOf('.');
    globals.set(qualname, new PyGlobal(qualname.slice(0, dot), qualname.slice(dot + 1), call, isClass));
  };
  const refuseCall = (qualname: string) => (_: readonly PyValue[], at: number): PyValue => {
    throw new DecodeError(`data.pkl calls ${printable(qualname)} directly, which is not allowed`, at);
  };

  const rebuildTensor = (args: readonly PyValue[], at: number, asParameter = false): TensorValue => {
    if (args.length < 6 || args.length > 7) throw new DecodeError(`_rebuild_tensor_v2 given ${args.length} arguments`, at);
    const [storage, offset, size, stride, requiresGrad, hooks] = args;
    if (!(storage instanceof StorageValue)) throw new DecodeError(`_rebuild_tensor_v2 given ${describe(storage)} as storage`, at);
    const off = nonNegInt(offset, 'storage offset', at);
    const shape = intTuple(size, 'size', at);
    const strides = intTuple(stride, 'stride', at);
    if (strides.length !== shape.length) throw new DecodeError(`tensor has ${shape.length} sizes but ${strides.length} strides`, at);
    if (typeof requiresGrad !== 'boolean' || !(hooks instanceof PyDict)) throw new DecodeError('_rebuild_tensor_v2 given malformed requires_grad or hooks', at);
    const meta = args[6];
    if (meta !== undefined && meta !== null && !(meta instanceof PyDict)) throw new DecodeError('_rebuild_tensor_v2 given malformed metadata', at);

    let count: number;
    try {
      count = numel(shape);
    } catch {
      throw new DecodeError(`tensor shape [${shape}] has more than 2^53 elements`, at);
    }
    if (count > 0) {
      let last = off;
      for (let d = 0; d < shape.length; d++) last += (shape[d] - 1) * strides[d];
      if (!Number.isSafeInteger(last) || last >= storage.numel) {
        throw new DecodeError(`tensor of shape ${printable(`[${shape}]`, 60)}, stride ${printable(`[${strides}]`, 60)} at offset ${off} reaches past its storage ${printable(storage.key)} of ${storage.numel} elements`, at);
      }
    }

    const size1 = dtypeInfo(storage.dtype).size;
    const contiguous = isContiguous(shape, strides);
    if (ctx.fileBytes !== undefined && count * size1 > ctx.fileBytes) {
      throw new UserError(
        `${ctx.file}: a tensor of shape ${printable(`[${shape}]`, 60)}, stride ${printable(`[${strides}]`, 60)} repeats storage ${printable(storage.key)} to ${count * size1} bytes, more than the whole ${ctx.fileBytes}-byte file (at byte ${at})`,
        { code: 'BAD_INPUT', hint: 'save expanded tensors as real copies: torch.save({k: v.contiguous() for k, v in state_dict.items()}, "weights.pth")' },
      );
    }
    let range: ByteRange;
    if (contiguous) {
      range = { source: storage.range.source, offset: storage.range.offset + off * size1, length: count * size1 };
    } else {
      const source = new StridedViewSource(`${ctx.file} storage ${storage.key}`, storage.range, size1, shape, strides, off);
      range = { source, offset: 0, length: source.length };
    }
    const t = tensorFromRange(storage.dtype, shape, range);
    return asParameter ? new ParameterValue(t, storage, contiguous) : new TensorValue(t, storage, contiguous);
  };
  const rebuildParameter = (withState: boolean) => (args: readonly PyValue[], at: number): PyValue => {
    if (args.length !== (withState ? 4 : 3)) throw new DecodeError(`_rebuild_parameter given ${args.length} arguments`, at);
    const [data, requiresGrad, hooks] = args;
    if (!(data instanceof TensorValue)) throw new DecodeError(`_rebuild_parameter given ${describe(data)} as data`, at);
    if (typeof requiresGrad !== 'boolean' || !(hooks instanceof PyDict)) throw new DecodeError('_rebuild_parameter given malformed requires_grad or hooks', at);
    return new ParameterValue(data.tensor, data.storage, data.contiguous);
  };

  def('collections.OrderedDict', (args, at) => {
    const d = new PyDict('OrderedDict');
    if (args.length > 1) throw new DecodeError(`OrderedDict given ${args.length} arguments`, at);
    if (args.length === 1) {
      const src = args[0];
      const items = src instanceof PyTuple ? src.items : Array.isArray(src) ? src : undefined;
      if (!items) throw new DecodeError(`OrderedDict given ${describe(src)}`, at);
      for (const pair of items) {
        if (!(pair instanceof PyTuple) || pair.items.length !== 2) throw new DecodeError('OrderedDict given something other than pairs', at);
        d.set(pair.items[0], pair.items[1]);
      }
    }
    return d;
  }, true);
  def('torch._utils._rebuild_tensor_v2', (args, at) => rebuildTensor(args, at));
  def('torch._utils._rebuild_parameter', rebuildParameter(false));
  def('torch._utils._rebuild_parameter_with_state', rebuildParameter(true));
  def('torch._tensor._rebuild_from_type_v2', (args, at) => {
    const [func, newType, inner] = args;
    const tensorTypes = ['torch.Tensor', 'torch._tensor.Tensor', 'torch.nn.parameter.Parameter'];
    if (args.length !== 4 || !(func instanceof PyGlobal) || !(newType instanceof PyGlobal) || !(inner instanceof PyTuple)) {
      throw new DecodeError('_rebuild_from_type_v2 given malformed arguments', at);
    }
    if (!func.qualname.startsWith('torch._utils._rebuild_') || !tensorTypes.includes(newType.qualname)) {
      throw new DecodeError(`_rebuild_from_type_v2 with ${printable(func.qualname)} and ${printable(newType.qualname)} is not allowed`, at);
    }
    return func.call(inner.items, at);
  });
  def('torch.Size', (args, at) => {
    if (args.length !== 1 || !(args[0] instanceof PyTuple)) throw new DecodeError('torch.Size given something other than a tuple', at);
    intTuple(args[0], 'torch.Size', at);
    return args[0];
  }, true);
  for (const q of ['torch.Tensor', 'torch._tensor.Tensor', 'torch.nn.parameter.Parameter']) def(q, refuseCall(q), true);
  for (const m of ['builtins', '__builtin__']) {
    for (const kind of ['set', 'frozenset']) {
      def(`${m}.${kind}`, (args, at) => {
        const s = new PySet(kind === 'frozenset');
        if (args.length > 1) throw new DecodeError(`${kind} given ${args.length} arguments`, at);
        const src = args[0];
        if (src !== undefined) {
          const items = src instanceof PyTuple ? src.items : Array.isArray(src) ? src : undefined;
          if (!items) throw new DecodeError(`${kind} given ${describe(src)}`, at);
          s.items.push(...items);
        }
        return s;
      }, true);
    }
    def(`${m}.bytes`, (args, at) => bytesFrom(args, at), true);
    def(`${m}.bytearray`, (args, at) => bytesFrom(args, at), true);
  }
  def('_codecs.encode', (args, at) => {
    if (args.length !== 2 || typeof args[0] !== 'string' || !['latin1', 'latin-1'].includes(String(args[1]))) {
      throw new DecodeError('_codecs.encode allowed only as (str, "latin1")', at);
    }
    return latin1(args[0], at);
  });

  return {
    findGlobal(module, name, at) {
      const qualname = `${module}.${name}`;
      const g = globals.get(qualname);
      if (g) return g;
      const storage = module === 'torch' ? /^(\w+)Storage$/.exec(name) : null;
      if (storage) {
        const info = dtypeFromTorchStorage(name);
        if (!info) throw new UserError(`${ctx.file} holds a ${printable(qualname)}, a storage type that is not supported (at byte ${at})`, { code: 'UNSUPPORTED' });
        return new PyGlobal(module, name, refuseCall(qualname), true);
      }
      throw refusal(ctx.file, qualname, at);
    },
    persistentLoad(pid, at) {
      if (!(pid instanceof PyTuple) || pid.items.length !== 5 || pid.items[0] !== 'storage') {
        throw new DecodeError(`persistent id ${describe(pid)} is not a storage reference`, at);
      }
      const [, type, key, location, count] = pid.items;
      const qual = type instanceof PyGlobal ? type.qualname : describe(type);
      const info = type instanceof PyGlobal && type.module === 'torch' ? dtypeFromTorchStorage(type.name) : undefined;
      if (!info) throw new DecodeError(`storage reference with type ${qual}`, at);
      if (typeof key !== 'string' || typeof location !== 'string') throw new DecodeError('storage reference with a malformed key or location', at);
      const n = nonNegInt(count, 'storage size', at);
      const known = storages.get(key);
      if (known) {
        if (known.dtype !== info.dtype || known.numel !== n) {
          throw new DecodeError(`storage ${printable(key)} is referenced as ${known.numel} ${known.dtype} and as ${n} ${info.dtype}`, at);
        }
        return known;
      }
      const s = new StorageValue(key, info.dtype, n, location, ctx.storageRange(key, info.dtype, n, at));
      storages.set(key, s);
      return s;
    },
  };
}

function refusal(file: string, qualname: string, at: number): UserError {
  const runsCode = ['builtins.', '__builtin__.', 'os.', 'posix.', 'nt.', 'subprocess.', 'sys.', 'runpy.', 'importlib.'].some((p) => qualname.startsWith(p));
  return new UserError(
    `${file} refers to ${printable(qualname)} (at byte ${at}), which a weights-only checkpoint may not contain; refused without running anything`,
    {
      code: 'BAD_INPUT',
      hint: runsCode
        ? 'this file tries to run code when loaded: do not open it with torch.load(weights_only=False)'
        : 'if the file pickles a whole model or training objects and you trust it, re-save just the weights in Python: torch.save(model.state_dict(), "weights.pth")',
    },
  );
}

function nonNegInt(v: PyValue, what: string, at: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new DecodeError(`${what} ${describe(v)} is not a non-negative integer`, at);
  return v;
}

function intTuple(v: PyValue, what: string, at: number): number[] {
  if (!(v instanceof PyTuple)) throw new DecodeError(`tensor ${what} is ${describe(v)}, not a tuple`, at);
  return v.items.map((x) => nonNegInt(x, `tensor ${what} entry`, at));
}

/** torch's rule: strides of dims of size 1 do not matter; empty tensors are contiguous. */
function isContiguous(shape: readonly number[], strides: readonly number[]): boolean {
  if (shape.includes(0)) return true;
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && strides[d] !== expected) return false;
    expected *= shape[d];
  }
  return true;
}

function latin1(s: string, at: number): PyBytes {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) throw new DecodeError('latin1 text holds a character past U+00FF', at);
    out[i] = c;
  }
  return new PyBytes(out);
}

function bytesFrom(args: readonly PyValue[], at: number): PyBytes {
  if (args.length === 0) return new PyBytes(new Uint8Array(0));
  if (args.length === 2 && typeof args[0] === 'string' && ['latin1', 'latin-1'].includes(String(args[1]))) return latin1(args[0], at);
  throw new DecodeError('bytes/bytearray allowed only empty or from (str, "latin1")', at);
}
