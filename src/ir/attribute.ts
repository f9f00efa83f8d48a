// Node attributes: the values rules read, and the original bytes for writing an attribute back unchanged.
// An attribute of the wrong type is the file's fault (exit 2), not ours.
import { UserError } from '../errors';
import { Encoded } from './encoded';
import { Tensor } from '../tensor';

export type AttributeValue =
  | { readonly type: 'int'; readonly value: number }
  | { readonly type: 'ints'; readonly value: readonly number[] }
  | { readonly type: 'float'; readonly value: number }
  | { readonly type: 'floats'; readonly value: readonly number[] }
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'strings'; readonly value: readonly string[] }
  | { readonly type: 'tensor'; readonly value: Tensor }
  /** Graphs and other kinds the rules never look inside; `captures` are outer names a subgraph reads. */
  | { readonly type: 'opaque'; readonly onnxType: number; readonly captures: readonly string[] };

export interface Attribute {
  readonly name: string;
  readonly value: AttributeValue;
  /** The AttributeProto as read, when it came from a file. */
  readonly raw?: Encoded;
}

export function intAttr(attrs: ReadonlyMap<string, Attribute>, name: string, fallback: number): number {
  const a = attrs.get(name)?.value;
  if (a === undefined) return fallback;
  if (a.type !== 'int') throw new UserError(`attribute ${name} is ${a.type}, not int`);
  return a.value;
}

export function intsAttr(attrs: ReadonlyMap<string, Attribute>, name: string): readonly number[] | undefined {
  const a = attrs.get(name)?.value;
  if (a === undefined) return undefined;
  if (a.type !== 'ints') throw new UserError(`attribute ${name} is ${a.type}, not ints`);
  return a.value;
}

export function floatAttr(attrs: ReadonlyMap<string, Attribute>, name: string, fallback: number): number {
  const a = attrs.get(name)?.value;
  if (a === undefined) return fallback;
  if (a.type !== 'float') throw new UserError(`attribute ${name} is ${a.type}, not float`);
  return a.value;
}

export function stringAttr(attrs: ReadonlyMap<string, Attribute>, name: string, fallback: string): string {
  const a = attrs.get(name)?.value;
  if (a === undefined) return fallback;
  if (a.type !== 'string') throw new UserError(`attribute ${name} is ${a.type}, not string`);
  return a.value;
}
