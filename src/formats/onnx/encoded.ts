// The ONNX codec's side of the IR's opaque `Encoded` handles: the protobuf parts a reader kept of a
// node, an initializer or an attribute, for writing it back byte for byte while it is unchanged.
import type { Encoded } from '../../ir/encoded';
import type { Part } from '../protobuf/writer';

/** A NodeProto as read: its body without framing, and its fields in order. */
export interface NodeBytes {
  readonly body: Part;
  readonly fields: readonly { no: number; part: Part }[];
}

export const encodedPart = (p: Part): Encoded => p as unknown as Encoded;
export const encodedParts = (ps: readonly Part[]): readonly Encoded[] => ps as unknown as readonly Encoded[];
export const encodedNode = (n: NodeBytes): Encoded => n as unknown as Encoded;

export const partOf = (e: Encoded): Part => e as unknown as Part;
export const partsOf = (es: readonly Encoded[]): readonly Part[] => es as unknown as readonly Part[];
export const nodeBytesOf = (e: Encoded): NodeBytes => e as unknown as NodeBytes;
