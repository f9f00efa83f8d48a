// A one-node ONNX model (y = Relu(x), x: float32[1]), so an execution provider can be tried without
// touching the user's files.
import { leaves, Message } from '../formats/protobuf/writer';

function valueInfo(name: string): Message {
  const shape = new Message().bytesField(1, new Message().varintField(1, 1)); // dim { dim_value: 1 }
  const tensorType = new Message().varintField(1, 1).bytesField(2, shape); // elem_type FLOAT
  return new Message().stringField(1, name).bytesField(2, new Message().bytesField(1, tensorType));
}

export function probeModel(): Uint8Array {
  const node = new Message().stringField(1, 'x').stringField(2, 'y').stringField(4, 'Relu');
  const graph = new Message().bytesField(1, node).stringField(2, 'probe').bytesField(11, valueInfo('x')).bytesField(12, valueInfo('y'));
  const opset = new Message().stringField(1, '').varintField(2, 13);
  const model = new Message().varintField(1, 8).bytesField(7, graph).bytesField(8, opset);
  return messageBytes(model);
}

/** Bytes of a message built only from in-memory parts. */
export function messageBytes(m: Message): Uint8Array {
  const out = new Uint8Array(m.size);
  let at = 0;
  for (const leaf of leaves(m)) {
    if (!(leaf instanceof Uint8Array)) throw new TypeError('messageBytes takes in-memory parts only');
    out.set(leaf, at);
    at += leaf.length;
  }
  return out;
}
