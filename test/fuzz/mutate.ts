// Seeded mutations of corpus files. Generic ones (bit flips, byte sets, truncations, splices, duplicated
// or deleted regions) aim mostly at the bytes that describe a file rather than its tensor data; format-aware
// ones edit length and count fields in place, or edit a decoded structure (ONNX fields, the safetensors
// JSON header, a .pth's data.pkl and zip entries) and re-encode it so the change reaches the deeper checks.
import type { Rng } from '../helpers/random';
import { allNodes, encodeTree, packVarints, packedVarints, parseTree, PbNode } from './protobuf-tree';
import { IntField, pickleOps, scanProtobuf, scanSafetensors, scanZip, Structure, unzip, zip, ZipItem } from './structure';

export type Format = 'onnx' | 'safetensors' | 'pth';

export interface CorpusFile {
  readonly name: string;
  readonly format: Format;
  readonly bytes: Uint8Array;
}

export interface Mutant {
  readonly bytes: Uint8Array;
  /** What was done, in order, e.g. "int-field: length of field 9 under /7/5 5120 → 0 (in place)". */
  readonly steps: readonly string[];
}

/** A file that would run code if a pickle reader ever executed it. */
export const PWNED = '/tmp/repvgg-convert-fuzz-pwned';

type Mutator = (r: Rng, b: Uint8Array, f: CorpusFile, corpus: readonly CorpusFile[]) => { bytes: Uint8Array; step: string } | undefined;

const structures = new WeakMap<Uint8Array, Structure>();

function structureOf(b: Uint8Array, format: Format): Structure {
  let s = structures.get(b);
  if (!s) {
    s = format === 'onnx' ? scanProtobuf(b) : format === 'safetensors' ? scanSafetensors(b) : scanZip(b);
    structures.set(b, s);
  }
  return s;
}

/** Applies 1-3 mutations, chosen by the format; deterministic for a given rng state. */
export function mutate(r: Rng, f: CorpusFile, corpus: readonly CorpusFile[]): Mutant {
  let bytes = f.bytes;
  const steps: string[] = [];
  const count = r.pick([1, 1, 1, 2, 2, 3]);
  for (let i = 0; i < count; i++) {
    const table = MUTATORS[f.format];
    const total = table.reduce((n, [w]) => n + w, 0);
    let x = r.float(0, total);
    let chosen = table[table.length - 1];
    for (const row of table) {
      x -= row[0];
      if (x < 0) {
        chosen = row;
        break;
      }
    }
    const [, name, fn] = chosen;
    const out = fn(r, bytes, f, corpus);
    if (!out) continue;
    bytes = out.bytes;
    steps.push(`${name}: ${out.step}`);
  }
  if (!steps.length) {
    const [name, fn] = bytes.length ? ['bit-flip', bitFlip] : ['insert', insertRandom];
    const out = fn(r, bytes, f, corpus)!;
    bytes = out.bytes;
    steps.push(`${name}: ${out.step}`);
  }
  return { bytes, steps };
}

// ---- positions and values ----

/** A position, in a structural region 3 times out of 4. */
function position(r: Rng, b: Uint8Array, f: CorpusFile): number {
  if (b.length === 0) return 0;
  const regions = b === f.bytes ? structureOf(b, f.format).regions : [];
  if (regions.length && r.float(0, 1) < 0.75) {
    const reg = r.pick(regions);
    return Math.min(b.length - 1, r.int(reg.start, Math.max(reg.start, reg.end - 1)));
  }
  return r.int(0, b.length - 1);
}

const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, 0x0a, 0x22, 0x7b, 0x7d, 0x2e, 0x28, 0x63, 0x93];

function interestingInt(r: Rng, old: number, fileLength: number): bigint {
  const choices: bigint[] = [
    0n, 1n, BigInt(Math.max(0, old - 1)), BigInt(old + 1), BigInt(old * 2), BigInt(old >> 1), BigInt(fileLength), BigInt(fileLength + 1),
    0x7fn, 0x80n, 0xffn, 0x100n, 0xffffn, 0x7fffffffn, 0x80000000n, 0xffffffffn, 1n << 32n, (1n << 53n) - 1n, 1n << 53n, (1n << 53n) + 1n,
    1n << 63n, (1n << 64n) - 1n, BigInt(r.int(0, 1 << 20)), BigInt(old + r.int(-64, 64) > 0 ? old + r.int(-64, 64) : 0),
  ];
  return r.pick(choices);
}

/** Writes v into a fixed-size little-endian field (truncated to its width). */
function writeFixed(b: Uint8Array, field: { at: number; size: number }, v: bigint): void {
  let x = BigInt.asUintN(field.size * 8, v);
  for (let i = 0; i < field.size; i++) {
    b[field.at + i] = Number(x & 0xffn);
    x >>= 8n;
  }
}

/** v as a varint of exactly `size` bytes if it fits (non-minimal encodings are valid protobuf). */
function paddedVarint(v: bigint, size: number): number[] | undefined {
  if (size < 1 || size > 10 || (size < 10 && v >= 1n << BigInt(7 * size))) return undefined;
  const out: number[] = [];
  let x = BigInt.asUintN(64, v);
  for (let i = 0; i < size; i++) {
    out.push(Number(x & 0x7fn) | (i < size - 1 ? 0x80 : 0));
    x >>= 7n;
  }
  return out;
}

function minimalVarint(v: bigint): number[] {
  const out: number[] = [];
  let x = BigInt.asUintN(64, v);
  while (x >= 0x80n) {
    out.push(Number(x & 0x7fn) | 0x80);
    x >>= 7n;
  }
  out.push(Number(x));
  return out;
}

function splice(b: Uint8Array, at: number, remove: number, insert: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(b.length - remove + insert.length);
  out.set(b.subarray(0, at), 0);
  out.set(insert, at);
  out.set(b.subarray(at + remove), at + insert.length);
  return out;
}

// ---- generic mutators ----

const bitFlip: Mutator = (r, b, f) => {
  if (!b.length) return undefined;
  const out = Uint8Array.from(b);
  const n = r.int(1, 4);
  const at: number[] = [];
  for (let i = 0; i < n; i++) {
    const p = position(r, b, f);
    out[p] ^= 1 << r.int(0, 7);
    at.push(p);
  }
  return { bytes: out, step: `flipped a bit at ${at.join(', ')}` };
};

const byteSet: Mutator = (r, b, f) => {
  if (!b.length) return undefined;
  const out = Uint8Array.from(b);
  const p = position(r, b, f);
  const n = r.int(1, 4);
  const v = r.float(0, 1) < 0.7 ? r.pick(INTERESTING_BYTES) : r.int(0, 255);
  out.fill(v, p, Math.min(out.length, p + n));
  return { bytes: out, step: `set ${n} byte(s) at ${p} to 0x${v.toString(16)}` };
};

const truncate: Mutator = (r, b, f) => {
  if (b.length < 2) return undefined;
  let p: number;
  const regions = b === f.bytes ? structureOf(b, f.format).regions : [];
  if (regions.length && r.float(0, 1) < 0.5) {
    const reg = r.pick(regions);
    p = Math.max(0, Math.min(b.length - 1, r.pick([reg.start, reg.end]) + r.int(-3, 3)));
  } else p = r.int(0, b.length - 1);
  return { bytes: b.slice(0, p), step: `truncated to ${p} bytes` };
};

const spliceFiles: Mutator = (r, b, f, corpus) => {
  const sameFormat = corpus.filter((c) => c.format === f.format);
  const other = r.float(0, 1) < 0.7 && sameFormat.length ? r.pick(sameFormat) : r.pick(corpus);
  const a = r.int(0, b.length);
  const c = r.int(0, other.bytes.length);
  if (r.float(0, 1) < 0.5) {
    const out = new Uint8Array(a + other.bytes.length - c);
    out.set(b.subarray(0, a));
    out.set(other.bytes.subarray(c), a);
    return { bytes: out, step: `first ${a} bytes, then ${other.name} from byte ${c}` };
  }
  // Overwrite a stretch with the same stretch of the other file (aligned structures line up).
  const n = Math.min(r.int(1, 4096), b.length - a, other.bytes.length - a);
  if (n <= 0) return undefined;
  const out = Uint8Array.from(b);
  out.set(other.bytes.subarray(a, a + n), a);
  return { bytes: out, step: `bytes [${a}, ${a + n}) taken from ${other.name}` };
};

const duplicate: Mutator = (r, b, f) => {
  if (b.length < 2) return undefined;
  const s = position(r, b, f);
  const n = Math.min(b.length - s, r.pick([1, 2, 4, 8, 16, 64, 256, 4096]));
  const region = b.slice(s, s + n);
  const at = position(r, b, f);
  if (r.float(0, 1) < 0.5) return { bytes: splice(b, at, 0, region), step: `copied [${s}, ${s + n}) in at ${at}` };
  const out = Uint8Array.from(b);
  out.set(region.subarray(0, Math.min(n, out.length - at)), at);
  return { bytes: out, step: `copied [${s}, ${s + n}) over ${at}` };
};

const remove: Mutator = (r, b, f) => {
  if (b.length < 2) return undefined;
  const s = position(r, b, f);
  const n = Math.min(b.length - s, r.pick([1, 2, 3, 4, 8, 16, 100, 1000]));
  return { bytes: splice(b, s, n, []), step: `deleted [${s}, ${s + n})` };
};

const insertRandom: Mutator = (r, b, f) => {
  const s = position(r, b, f);
  const n = r.pick([1, 2, 4, 8, 32]);
  const ins = Array.from({ length: n }, () => (r.float(0, 1) < 0.5 ? r.pick(INTERESTING_BYTES) : r.int(0, 255)));
  return { bytes: splice(b, s, 0, ins), step: `inserted ${n} byte(s) at ${s}` };
};

/** A length, count, offset or varint field set to a boundary value, in place or re-encoded (varints). */
const intField: Mutator = (r, b, f) => {
  const ints = structureOf(b, f.format).ints.filter((i) => i.at + i.size <= b.length);
  if (!ints.length) return undefined;
  const fld: IntField = r.pick(ints);
  const v = interestingInt(r, fld.value, b.length);
  if (f.format === 'safetensors' && fld.what === 'JSON number') {
    const text = Buffer.from(r.pick([v.toString(), `-${v}`, `${v}.5`, `${v}e3`, '1e400', '']), 'latin1');
    let out = splice(b, fld.at, fld.size, text);
    const keep = r.float(0, 1) < 0.6;
    if (keep && out.length >= 8) {
      const n = Number(Buffer.from(b.buffer, b.byteOffset, 8).readBigUInt64LE(0)) + text.length - fld.size;
      out = Uint8Array.from(out);
      writeFixed(out, { at: 0, size: 8 }, BigInt(Math.max(0, n)));
    }
    return { bytes: out, step: `${fld.what} at ${fld.at} ${fld.value} → '${text}'${keep ? ' (header length kept in step)' : ''}` };
  }
  if (fld.kind === 'varint') {
    const same = paddedVarint(v, fld.size);
    if (same && r.float(0, 1) < 0.6) {
      return { bytes: splice(b, fld.at, fld.size, same), step: `${fld.what} at ${fld.at}: ${fld.value} → ${v} (in place)` };
    }
    return { bytes: splice(b, fld.at, fld.size, minimalVarint(v)), step: `${fld.what} at ${fld.at}: ${fld.value} → ${v} (re-encoded)` };
  }
  const out = Uint8Array.from(b);
  writeFixed(out, fld, v);
  return { bytes: out, step: `${fld.what} at ${fld.at}: ${fld.value} → ${BigInt.asUintN(fld.size * 8, v)}` };
};

/** NaN, an infinity, a huge or a negative value in a float32 tensor (negative running_var below -eps). */
const pokeFloat: Mutator = (r, b, f) => {
  const floats = structureOf(b, f.format).floats.filter((x) => x.start >= 0 && x.end - x.start >= 4 && x.end <= b.length);
  if (!floats.length) return undefined;
  const vars = floats.filter((x) => /var/.test(x.name));
  const t = vars.length && r.float(0, 1) < 0.3 ? r.pick(vars) : r.pick(floats);
  const at = t.start + 4 * r.int(0, Math.floor((t.end - t.start) / 4) - 1);
  const v = r.pick([NaN, Infinity, -Infinity, -1, -0.5, -1e-3, -1e-6, 3.4e38, -3.4e38, 1e-45, 0, -0]);
  const out = Uint8Array.from(b);
  new DataView(out.buffer).setFloat32(at, v, true);
  return { bytes: out, step: `${v} written into ${t.name} at byte ${at}` };
};

// ---- ONNX: edits of the decoded field tree ----

const OP_TYPES = ['Conv', 'BatchNormalization', 'Add', 'Identity', 'Constant', 'Relu', 'Gemm', 'Sum', 'Mul', 'If', 'Loop', 'Concat', ''];

/** Terminal control sequences a name may carry: a window title (OSC … BEL), a clear screen, a forged line. */
export const ESCAPES = ['\u001b]0;pwned\u0007', '\u001b[2J', '\r\nFAKE: PASSED', '\u009b31m', 'a\rb'];

const onnxTree: Mutator = (r, b) => {
  const tree = parseTree(b);
  if (!tree) return undefined;
  const nodes = allNodes(tree);
  if (!nodes.length) return undefined;
  const { node, list, index } = r.pick(nodes);
  const strings = nodes.filter((n) => n.node.wire === 2 && !n.node.children && n.node.bytes.length < 200).map((n) => n.node.bytes);
  const kind = r.int(0, 11);
  let step: string;
  switch (kind) {
    case 0:
      list.splice(index, 1);
      step = `dropped field ${node.no}`;
      break;
    case 1:
      list.splice(index, 0, clone(node));
      step = `repeated field ${node.no}`;
      break;
    case 2: {
      const other = r.pick(nodes).node;
      list.splice(index, 0, clone(other));
      step = `copied a field ${other.no} in before field ${node.no}`;
      break;
    }
    case 3: {
      if (node.wire !== 0) return undefined;
      const v = interestingInt(r, Number(node.value & 0xffffffffn), b.length);
      const neg = r.float(0, 1) < 0.2 ? -v : v;
      step = `varint field ${node.no}: ${node.value} → ${neg}`;
      node.value = BigInt.asUintN(64, neg);
      break;
    }
    case 4: {
      // packed dims (TensorProto field 1) and other packed varints
      if (node.wire !== 2 || node.children) return undefined;
      const vs = packedVarints(node.bytes);
      if (!vs || !vs.length) return undefined;
      const i = r.int(0, vs.length - 1);
      const op = r.int(0, 3);
      if (op === 0) vs[i] = interestingInt(r, Number(vs[i] & 0xffffffffn), b.length);
      else if (op === 1) vs[i] = BigInt.asUintN(64, -BigInt(r.int(1, 3)));
      else if (op === 2) vs.push(BigInt(r.pick([0, 1, 2, 1 << 20, 2 ** 40])));
      else vs.pop();
      node.bytes = packVarints(vs);
      step = `packed varints of field ${node.no}: now [${vs.join(', ')}]`;
      break;
    }
    case 5: {
      if (node.wire !== 2 || node.children || !strings.length) return undefined;
      const u = r.float(0, 1);
      const s = u < 0.3 ? Buffer.from(r.pick(OP_TYPES)) : u < 0.5 ? Buffer.concat([r.pick(strings), Buffer.from(r.pick(ESCAPES))]) : r.pick(strings);
      step = `bytes of field ${node.no} replaced by ${JSON.stringify(Buffer.from(s).toString('latin1').slice(0, 40))}`;
      node.bytes = s;
      break;
    }
    case 6: {
      const a = r.int(0, list.length - 1);
      [list[a], list[index]] = [list[index], list[a]];
      step = `swapped fields ${list[a].no} and ${list[index].no}`;
      break;
    }
    case 7: {
      // payload shortened or lengthened by a few bytes (raw_data of a wrong size, cut strings)
      if (node.wire !== 2 || node.children) return undefined;
      const d = r.pick([-4, -1, 1, 4]);
      node.bytes = d < 0 ? node.bytes.subarray(0, Math.max(0, node.bytes.length + d)) : Buffer.concat([node.bytes, new Uint8Array(d)]);
      step = `payload of field ${node.no} resized by ${d}`;
      break;
    }
    case 8: {
      const wire = r.pick([0, 1, 2, 5].filter((w) => w !== node.wire));
      step = `field ${node.no} re-typed from wire ${node.wire} to ${wire}`;
      node.wire = wire;
      node.children = undefined;
      if (wire === 1) node.bytes = new Uint8Array(8);
      if (wire === 5) node.bytes = new Uint8Array(4);
      if (wire === 2 && !node.bytes.length) node.bytes = Uint8Array.of(1, 2, 3);
      break;
    }
    case 9: {
      // external data (TensorProto data_location = 1) pointing somewhere odd
      const tensors = nodes.filter((n) => n.node.children && n.node.children.some((c) => c.no === 9));
      if (!tensors.length) return undefined;
      const t = r.pick(tensors).node;
      const loc = r.pick(['missing.bin', '../outside.bin', '/etc/hostname', 'fuzz-input', '', 'a/../../b']);
      const entry = (k: string, v: string): PbNode => ({ no: 13, wire: 2, value: 0n, bytes: new Uint8Array(0), children: [str(1, k), str(2, v)] });
      t.children = t.children!.filter((c) => c.no !== 9);
      t.children.push({ no: 14, wire: 0, value: 1n, bytes: new Uint8Array(0) }, entry('location', loc));
      if (r.float(0, 1) < 0.5) t.children.push(entry('offset', r.pick(['0', '-1', '1e3', '99999999999999999999', 'x'])), entry('length', r.pick(['0', '4', '16', 'NaN'])));
      step = `tensor moved to external data at '${loc}'`;
      break;
    }
    case 10: {
      // typed float_data instead of raw_data, with a count that may not match
      const tensors = nodes.filter((n) => n.node.children && n.node.children.some((c) => c.no === 9));
      if (!tensors.length) return undefined;
      const t = r.pick(tensors).node;
      const raw = t.children!.find((c) => c.no === 9)!;
      const n = Math.max(0, Math.floor(raw.bytes.length / 4) + r.pick([0, 0, -1, 1]));
      t.children = t.children!.filter((c) => c.no !== 9);
      const data = new Uint8Array(4 * n);
      data.set(raw.bytes.subarray(0, Math.min(data.length, raw.bytes.length)));
      t.children.push({ no: 4, wire: 2, value: 0n, bytes: data });
      step = `raw_data replaced by ${n} packed float_data values`;
      break;
    }
    default: {
      // an attribute's type field set to another type (its value field stays)
      const attrs = nodes.filter((n) => n.node.children && n.node.children.some((c) => c.no === 20 && c.wire === 0));
      if (!attrs.length) return undefined;
      const a = r.pick(attrs).node;
      const t = a.children!.find((c) => c.no === 20)!;
      t.value = BigInt(r.int(0, 14));
      step = `attribute type set to ${t.value}`;
    }
  }
  return { bytes: encodeTree(tree), step };
};

function str(no: number, s: string): PbNode {
  return { no, wire: 2, value: 0n, bytes: Buffer.from(s) };
}

function clone(n: PbNode): PbNode {
  return { ...n, children: n.children?.map(clone) };
}

// ---- safetensors: edits of the JSON header, re-framed ----

const headerEdit: Mutator = (r, b) => {
  if (b.length < 8) return undefined;
  const n = Number(Buffer.from(b.buffer, b.byteOffset, 8).readBigUInt64LE(0));
  if (8 + n > b.length) return undefined;
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(Buffer.from(b.subarray(8, 8 + n)).toString('utf8'));
  } catch {
    return undefined;
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) return undefined;
  const names = Object.keys(json).filter((k) => k !== '__metadata__' && json[k] && typeof json[k] === 'object' && !Array.isArray(json[k]));
  if (!names.length) return undefined;
  const name = r.pick(names);
  const e = json[name] as Record<string, unknown>;
  const shape = Array.isArray(e.shape) ? (e.shape as unknown[]) : [];
  const raw = (s: string) => `@@RAW@@${s}@@`;
  let step: string;
  switch (r.int(0, 9)) {
    case 0:
      e.shape = r.pick([[], [0], [raw('9007199254740993')], [raw('1e20')], [-1], [1.5], ['3'], [2 ** 26, 2 ** 26, 2 ** 26], [...shape, 1], shape.slice(1)]);
      step = `shape of '${name}' → ${JSON.stringify(e.shape)}`;
      break;
    case 1:
      e.dtype = r.pick(['F16', 'BF16', 'F64', 'I64', 'I32', 'BOOL', 'U8', 'F8_E4M3', 'F13', 5, null]);
      step = `dtype of '${name}' → ${JSON.stringify(e.dtype)}`;
      break;
    case 2: {
      const [a, z] = Array.isArray(e.data_offsets) ? (e.data_offsets as number[]) : [0, 0];
      const other = json[r.pick(names)] as { data_offsets: unknown };
      e.data_offsets = r.pick([[z, a], [a], [a, z, z], other.data_offsets, [a + 1, z + 1], [a, raw('18446744073709551615')], [-8, z], [a, z + 1e9], [String(a), z]]);
      step = `data_offsets of '${name}' → ${JSON.stringify(e.data_offsets)}`;
      break;
    }
    case 3:
      delete json[name];
      step = `dropped entry '${name}'`;
      break;
    case 4:
      json[`${name}.copy`] = { ...e };
      step = `entry '${name}' duplicated under another name`;
      break;
    case 5:
      e[r.pick(['offsets', 'extra', 'dtype ', 'Shape'])] = 1;
      step = `unknown field added to '${name}'`;
      break;
    case 6:
      json.__metadata__ = r.pick([{ a: 1 }, { a: { b: 'c' } }, [], 'meta', null, { format: 'pt', __proto__x: 'y' }]);
      step = `__metadata__ → ${JSON.stringify(json.__metadata__)}`;
      break;
    case 7:
      json[name] = r.pick([null, 1, 'x', [], {}]);
      step = `entry '${name}' → ${JSON.stringify(json[name])}`;
      break;
    case 8: {
      // nested arrays past the depth limit
      let deep: unknown = 1;
      for (let i = 0; i < r.pick([10, 70, 1000]); i++) deep = [deep];
      e.shape = deep;
      step = `shape of '${name}' nested deeply`;
      break;
    }
    default: {
      // a whole entry renamed to a key order that changes the tiling
      const entries = Object.entries(json).reverse();
      json = Object.fromEntries(entries);
      step = 'entries reversed';
    }
  }
  let text = JSON.stringify(json).replace(/"@@RAW@@(.*?)@@"/g, '$1');
  if (r.float(0, 1) < 0.5) text += ' '.repeat((8 - (text.length % 8)) % 8);
  const header = Buffer.from(text, 'utf8');
  const out = new Uint8Array(8 + header.length + b.length - 8 - n);
  const lengthField = r.float(0, 1) < 0.85 ? header.length : n;
  writeFixed(out, { at: 0, size: 8 }, BigInt(lengthField));
  out.set(header, 8);
  out.set(b.subarray(8 + n), 8 + header.length);
  return { bytes: out, step };
};

// ---- .pth: edits of data.pkl and of the archive's entries, re-zipped with correct CRCs ----

const itemsCache = new WeakMap<Uint8Array, ZipItem[] | null>();

function items(b: Uint8Array): ZipItem[] | undefined {
  let it = itemsCache.get(b);
  if (it === undefined) {
    try {
      it = unzip(b) ?? null;
    } catch {
      it = null;
    }
    itemsCache.set(b, it);
  }
  return it ?? undefined;
}

const HOSTILE: readonly [string, string][] = [['os', 'system'], ['posix', 'system'], ['builtins', 'eval'], ['builtins', 'exec'], ['subprocess', 'Popen'], ['torch', 'load'], ['__builtin__', 'getattr'], ['torch._utils', '_rebuild_qtensor'], ['numpy.core.multiarray', '_reconstruct']];

function u32le(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}

function unicode(s: string): number[] {
  const bytes = [...Buffer.from(s, 'utf8')];
  return [0x58, ...u32le(bytes.length), ...bytes];
}

/** A call of a forbidden global, by GLOBAL or STACK_GLOBAL; if it ever ran, it would create PWNED. */
function hostileCall(r: Rng): { bytes: number[]; name: string } {
  const [module, name] = r.pick(HOSTILE);
  const fn = r.float(0, 1) < 0.5
    ? [0x63, ...Buffer.from(`${module}\n${name}\n`, 'latin1')]
    : [...unicode(module), ...unicode(name), 0x93];
  return { bytes: [...fn, 0x28, ...unicode(`touch ${PWNED}`), 0x74, 0x52], name: `${module}.${name}` };
}

const pickleEdit: Mutator = (r, b) => {
  const its = items(b);
  const pklIndex = its?.findIndex((i) => i.name.endsWith('/data.pkl')) ?? -1;
  if (!its || pklIndex < 0) return undefined;
  let pkl: Uint8Array = its[pklIndex].data;
  const ops = pickleOps(pkl);
  if (!ops.length) return undefined;
  const op = r.pick(ops);
  let step: string;
  switch (r.int(0, 7)) {
    case 0:
    case 1: {
      const withInt = ops.filter((o) => o.int);
      if (!withInt.length) return undefined;
      const o = r.pick(withInt);
      let old = 0;
      for (let k = o.int!.size - 1; k >= 0; k--) old = old * 256 + pkl[o.int!.at + k];
      const v = interestingInt(r, old, pkl.length);
      pkl = Uint8Array.from(pkl);
      writeFixed(pkl, o.int!, v);
      step = `argument of opcode 0x${o.op.toString(16)} at ${o.at} → ${BigInt.asUintN(o.int!.size * 8, v)}`;
      break;
    }
    case 2: {
      const v = r.pick([0x28, 0x2e, 0x30, 0x31, 0x32, 0x52, 0x62, 0x51, 0x93, 0x81, 0x92, 0x74, 0x85, 0x86, 0x87, 0x73, 0x75, 0x65, 0x61, 0x94, 0x97, 0x98, 0x6f, 0x82, r.int(0, 255)]);
      pkl = Uint8Array.from(pkl);
      pkl[op.at] = v;
      step = `opcode at ${op.at} 0x${op.op.toString(16)} → 0x${v.toString(16)}`;
      break;
    }
    case 3:
      pkl = splice(pkl, op.at, op.end - op.at, []);
      step = `opcode 0x${op.op.toString(16)} at ${op.at} deleted`;
      break;
    case 4:
      pkl = splice(pkl, op.at, 0, pkl.subarray(op.at, op.end));
      step = `opcode 0x${op.op.toString(16)} at ${op.at} repeated`;
      break;
    case 5: {
      const h = hostileCall(r);
      pkl = splice(pkl, op.at, 0, h.bytes);
      step = `call of ${h.name} inserted at ${op.at}`;
      break;
    }
    case 6: {
      // a string (key, storage key, module name) swapped for another from the same pickle
      const strs = ops.filter((o) => o.op === 0x58 || o.op === 0x8c);
      if (strs.length < 2) return undefined;
      const a = r.pick(strs);
      const z = r.pick(strs);
      const body = pkl.subarray(z.int!.at + z.int!.size, z.end);
      const enc = a.op === 0x8c && body.length < 256 ? [0x8c, body.length, ...body] : [0x58, ...u32le(body.length), ...body];
      pkl = splice(pkl, a.at, a.end - a.at, enc);
      step = `string at ${a.at} replaced by the one at ${z.at}`;
      break;
    }
    default: {
      // deep MARK nesting, or many objects
      const n = r.pick([100, 20000]);
      pkl = splice(pkl, op.at, 0, new Array(n).fill(0x28));
      step = `${n} MARKs inserted at ${op.at}`;
    }
  }
  const next = its.map((it, i) => (i === pklIndex ? { ...it, data: pkl } : it));
  return { bytes: zip(next), step: `data.pkl: ${step}` };
};

const zipEntries: Mutator = (r, b) => {
  const its = items(b);
  if (!its || !its.length) return undefined;
  const list = its.map((i) => ({ ...i }));
  const i = r.int(0, list.length - 1);
  const it = list[i];
  const root = it.name.split('/')[0];
  let step: string;
  switch (r.int(0, 8)) {
    case 0:
      list.splice(i, 1);
      step = `entry ${it.name} dropped`;
      break;
    case 1:
      list.push({ ...it });
      step = `entry ${it.name} twice`;
      break;
    case 2:
      it.data = it.data.subarray(0, Math.max(0, it.data.length - r.pick([1, 2, 4, 8, it.data.length])));
      step = `entry ${it.name} cut to ${it.data.length} bytes`;
      break;
    case 3:
      it.data = Buffer.concat([it.data, new Uint8Array(r.pick([1, 4, 64]))]);
      step = `entry ${it.name} grown to ${it.data.length} bytes`;
      break;
    case 4: {
      const name = r.pick([`${root}/data/999`, `${root}/data.pkl`, `${root}/constants.pkl`, `${root}/code/x.py`, `other/${it.name.split('/').slice(1).join('/')}`, `${root}/data/0`]);
      step = `entry ${it.name} renamed ${name}`;
      it.name = name;
      break;
    }
    case 5: {
      const v = list.find((x) => x.name.endsWith('/version') || x.name.endsWith('/.data/version'));
      if (!v) return undefined;
      v.data = Buffer.from(r.pick(['0\n', '3\n', 'x\n', '99999\n', '', '1'.repeat(100)]));
      step = `version record → '${Buffer.from(v.data).toString().trim().slice(0, 10)}'`;
      break;
    }
    case 6: {
      const text = r.pick(['big', 'little', 'middle', '']);
      const o = list.find((x) => x.name.endsWith('/byteorder'));
      if (o) o.data = Buffer.from(text);
      else list.push({ name: `${root}/byteorder`, method: 0, data: Buffer.from(text) });
      step = `byteorder → '${text}'`;
      break;
    }
    case 7:
      it.method = it.method === 8 ? 0 : 8;
      step = `entry ${it.name} ${it.method === 8 ? 'deflated' : 'stored'}`;
      break;
    default:
      list.reverse();
      step = 'entries in reverse order';
  }
  return { bytes: zip(list), step };
};

// ---- tables ----

type Row = readonly [weight: number, name: string, fn: Mutator];

const GENERIC: readonly Row[] = [
  [3, 'bit-flip', bitFlip],
  [3, 'byte-set', byteSet],
  [2, 'truncate', truncate],
  [2, 'splice', spliceFiles],
  [2, 'duplicate', duplicate],
  [1, 'delete', remove],
  [1, 'insert', insertRandom],
  [5, 'int-field', intField],
  [2, 'poke-float', pokeFloat],
];

const MUTATORS: Readonly<Record<Format, readonly Row[]>> = {
  onnx: [...GENERIC, [8, 'onnx-tree', onnxTree]],
  safetensors: [...GENERIC, [8, 'header-edit', headerEdit]],
  pth: [...GENERIC, [7, 'pickle-edit', pickleEdit], [4, 'zip-entries', zipEntries]],
};
