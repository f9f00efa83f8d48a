// A one-node ONNX model (y = Relu(x), x: float32[1]) encoded by hand, so an execution provider can be
// tried without touching the user's files.

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

function field(num: number, body: number[] | string): number[] {
  const bytes = typeof body === 'string' ? [...Buffer.from(body, 'utf8')] : body;
  return [...varint((num << 3) | 2), ...varint(bytes.length), ...bytes];
}

function intField(num: number, value: number): number[] {
  return [...varint(num << 3), ...varint(value)];
}

function valueInfo(name: string): number[] {
  const dim = field(1, intField(1, 1)); // TensorShapeProto.dim { dim_value: 1 }
  const tensorType = [...intField(1, 1), ...field(2, dim)]; // elem_type FLOAT, shape
  return [...field(1, name), ...field(2, field(1, tensorType))];
}

export function probeModel(): Uint8Array {
  const node = [...field(1, 'x'), ...field(2, 'y'), ...field(4, 'Relu')];
  const graph = [...field(1, node), ...field(2, 'probe'), ...field(11, valueInfo('x')), ...field(12, valueInfo('y'))];
  const opset = [...field(1, ''), ...intField(2, 13)];
  return Uint8Array.from([...intField(1, 8), ...field(7, graph), ...field(8, opset)]);
}
