// A small front end over the graph IR for building a model from checkpoint weights: initializers come
// from the state dict by key (as float32, converted lazily when stored narrower), nodes get PyTorch-style
// scoped names ("/stage1.0/rbr_dense/conv/Conv").
import { dtypeInfo } from '../dtype';
import { UserError } from '../errors';
import { printable } from '../formats/printable';
import { Attribute } from '../ir/attribute';
import { Graph, Value } from '../ir/graph';
import { Tensor, toFloat32 } from '../tensor';

export class GraphBuilder {
  readonly graph = new Graph();
  private readonly nodeNames = new Map<string, number>();

  constructor(private readonly tensors: ReadonlyMap<string, Tensor>) {}

  input(name: string): Value {
    const v = this.graph.ensureValue(name);
    this.graph.addGraphInput(v);
    return v;
  }

  /** The state-dict tensor `key` as a float32 initializer of the same name (shared when asked twice). */
  weight(key: string): Value {
    const existing = this.graph.value(key);
    if (existing?.initializer) return existing;
    const t = this.tensors.get(key);
    if (!t) throw new Error(`the state dict has no tensor '${key}'`);
    if (!dtypeInfo(t.dtype).isFloat) throw new UserError(`'${printable(key)}' is ${t.dtype}, not a floating-point tensor`, { code: 'BAD_INPUT' });
    return this.graph.addInitializer(key, { tensor: asFloat32(t) });
  }

  /** An initializer made here (constants such as BN defaults or reshape targets). */
  constant(name: string, t: Tensor): Value {
    return this.graph.addInitializer(this.graph.freshName(name), { tensor: t });
  }

  /** Names `v` as the end of block `name` ("/<name>/block_output"), the name both built graphs give it. */
  blockEnd(v: Value, name: string): Value {
    this.graph.renameValue(v, `/${name}/block_output`);
    return v;
  }

  /** Appends `opType` under `scope`; the node is named "<scope>/<opType>" (numbered when repeated). */
  op(scope: string, opType: string, inputs: readonly Value[], attributes: readonly Attribute[] = [], output?: string): Value {
    const base = `${scope}/${opType}`;
    const n = this.nodeNames.get(base) ?? 0;
    this.nodeNames.set(base, n + 1);
    const name = n === 0 ? base : `${base}_${n}`;
    const node = this.graph.insertNode({ opType, name, inputs, outputs: [output ?? `${name}_output_0`], attributes });
    return node.outputs[0];
  }
}

/** float32 view of a tensor: itself when float32, else converted when the writer reads it. */
export function asFloat32(t: Tensor): Tensor {
  if (t.dtype === 'float32') return t;
  return {
    dtype: 'float32',
    shape: t.shape,
    data: {
      kind: 'lazy',
      compute: () => {
        const f = toFloat32(t);
        return new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
      },
    },
  };
}

export function int64Tensor(values: readonly number[]): Tensor {
  const bytes = new Uint8Array(8 * values.length);
  const dv = new DataView(bytes.buffer);
  values.forEach((v, i) => dv.setBigInt64(8 * i, BigInt(v), true));
  return { dtype: 'int64', shape: [values.length], data: { kind: 'memory', bytes } };
}

export const ints = (name: string, value: readonly number[]): Attribute => ({ name, value: { type: 'ints', value } });
export const int = (name: string, value: number): Attribute => ({ name, value: { type: 'int', value } });
export const float = (name: string, value: number): Attribute => ({ name, value: { type: 'float', value } });
