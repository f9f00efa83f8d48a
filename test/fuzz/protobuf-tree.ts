// An ONNX file as an editable tree of protobuf fields: the fuzzer edits a field deep inside (a dim, an op
// type, an input name) and re-encodes every enclosing length, so the mutation gets past the framing and
// reaches the graph decoder and the rules.

export interface PbNode {
  no: number;
  wire: number;
  /** Varint value (wire 0). */
  value: bigint;
  /** Payload (wire 1, 2, 5) when not parsed into children. */
  bytes: Uint8Array;
  /** Sub-message fields, for the message fields listed in SUBMESSAGES. */
  children?: PbNode[];
}

/** Which fields hold messages, by the message they are in: ONNX's Model, Graph, Node, Attribute, Tensor, ValueInfo and type messages. */
const SUBMESSAGES: Readonly<Record<string, Readonly<Record<number, string>>>> = {
  model: { 7: 'graph', 8: 'opset', 14: 'entry' },
  graph: { 1: 'node', 5: 'tensor', 11: 'valueInfo', 12: 'valueInfo', 13: 'valueInfo' },
  node: { 5: 'attribute' },
  attribute: { 5: 'tensor', 6: 'graph', 10: 'tensor', 11: 'graph' },
  tensor: { 13: 'entry' },
  valueInfo: { 2: 'type' },
  type: { 1: 'tensorType' },
  tensorType: { 2: 'shape' },
  shape: { 1: 'dim' },
  dim: {},
  opset: {},
  entry: {},
};

function varint(b: Uint8Array, p: number, end: number): [bigint, number] {
  // Up to 7 bytes (49 bits) in plain numbers; BigInt only for longer ones.
  let n = 0;
  let scale = 1;
  for (let i = p; i < end && i < p + 7; i++) {
    n += (b[i] & 0x7f) * scale;
    scale *= 128;
    if (!(b[i] & 0x80)) return [BigInt(n), i + 1];
  }
  let v = 0n;
  let s = 0n;
  for (let i = p; i < end && i < p + 10; i++) {
    v |= BigInt(b[i] & 0x7f) << s;
    s += 7n;
    if (!(b[i] & 0x80)) return [BigInt.asUintN(64, v), i + 1];
  }
  throw new RangeError('bad varint');
}

/** Parses a message of kind `kind`; undefined when the bytes do not parse (a corrupt corpus file). */
export function parseTree(b: Uint8Array, kind = 'model', start = 0, end = b.length, depth = 0): PbNode[] | undefined {
  const out: PbNode[] = [];
  let p = start;
  try {
    while (p < end) {
      const [tag, q] = varint(b, p, end);
      const no = Number(tag >> 3n);
      const wire = Number(tag & 7n);
      p = q;
      if (wire === 0) {
        const [v, r] = varint(b, p, end);
        out.push({ no, wire, value: v, bytes: new Uint8Array(0) });
        p = r;
      } else if (wire === 2) {
        const [len, r] = varint(b, p, end);
        const stop = r + Number(len);
        if (stop > end) return undefined;
        const sub = SUBMESSAGES[kind]?.[no];
        const node: PbNode = { no, wire, value: 0n, bytes: b.subarray(r, stop) };
        if (sub && depth < 16) node.children = parseTree(b, sub, r, stop, depth + 1);
        out.push(node);
        p = stop;
      } else if (wire === 1 || wire === 5) {
        const n = wire === 1 ? 8 : 4;
        if (p + n > end) return undefined;
        out.push({ no, wire, value: 0n, bytes: b.subarray(p, p + n) });
        p += n;
      } else return undefined;
    }
  } catch {
    return undefined;
  }
  return out;
}

export function encodeVarint(v: bigint): number[] {
  if (v >= 0n && v < 0x20000000000000n) {
    const out: number[] = [];
    let n = Number(v);
    while (n >= 0x80) {
      out.push((n % 128) | 0x80);
      n = Math.floor(n / 128);
    }
    out.push(n);
    return out;
  }
  let x = BigInt.asUintN(64, v);
  const out: number[] = [];
  while (x >= 0x80n) {
    out.push(Number(x & 0x7fn) | 0x80);
    x >>= 7n;
  }
  out.push(Number(x));
  return out;
}

export function encodeTree(nodes: readonly PbNode[]): Uint8Array {
  const chunks: Uint8Array[] = [];
  const emit = (ns: readonly PbNode[]) => {
    for (const n of ns) {
      chunks.push(Uint8Array.from(encodeVarint(BigInt(n.no * 8 + n.wire))));
      if (n.wire === 0) chunks.push(Uint8Array.from(encodeVarint(n.value)));
      else if (n.wire === 2) {
        const payload = n.children ? encodeTree(n.children) : n.bytes;
        chunks.push(Uint8Array.from(encodeVarint(BigInt(payload.length))), payload);
      } else chunks.push(n.bytes);
    }
  };
  emit(nodes);
  return Buffer.concat(chunks);
}

/** Every node of the tree with the list it sits in, depth first. */
export function allNodes(nodes: PbNode[]): { node: PbNode; list: PbNode[]; index: number }[] {
  const out: { node: PbNode; list: PbNode[]; index: number }[] = [];
  const walk = (list: PbNode[]) => {
    list.forEach((node, index) => {
      out.push({ node, list, index });
      if (node.children) walk(node.children);
    });
  };
  walk(nodes);
  return out;
}

export function packedVarints(b: Uint8Array): bigint[] | undefined {
  const out: bigint[] = [];
  let p = 0;
  try {
    while (p < b.length) {
      const [v, q] = varint(b, p, b.length);
      out.push(v);
      p = q;
    }
  } catch {
    return undefined;
  }
  return out;
}

export function packVarints(vs: readonly bigint[]): Uint8Array {
  return Uint8Array.from(vs.flatMap((v) => encodeVarint(v)));
}
