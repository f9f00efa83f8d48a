// Where the length and count fields of each input format sit, found by small scanners written for the
// fuzzer (independent of the readers under test), plus a zip builder so a mutated data.pkl can be put
// back into an archive with a correct CRC and reach the unpickler.
import * as zlib from 'zlib';

/** A little-endian or varint integer field in a file. */
export interface IntField {
  readonly at: number;
  /** Bytes the field occupies as it stands. */
  readonly size: number;
  readonly kind: 'varint' | 'u16' | 'u32' | 'u64' | 'u8' | 'i32';
  readonly value: number;
  /** What the field is, for case descriptions. */
  readonly what: string;
}

/** Byte ranges that describe the file (headers, names, framing) rather than hold tensor data. */
export interface Region {
  readonly start: number;
  readonly end: number;
}

export interface Structure {
  readonly ints: readonly IntField[];
  readonly regions: readonly Region[];
  /** Float32 tensor payloads (for value pokes that reach the merge checks), with their names when known. */
  readonly floats: readonly { readonly name: string; readonly start: number; readonly end: number }[];
}

// ---- protobuf ----

function varintAt(b: Uint8Array, at: number, end: number): [number, number] | undefined {
  let v = 0;
  let scale = 1;
  for (let i = at; i < end && i < at + 10; i++) {
    v += (b[i] & 0x7f) * scale;
    scale *= 128;
    if (!(b[i] & 0x80)) return [v, i + 1];
  }
  return undefined;
}

interface PbField {
  readonly no: number;
  readonly wire: number;
  readonly tagAt: number;
  readonly valueAt: number;
  readonly end: number;
  readonly value: number;
}

/** Fields of [start, end) if the whole range parses as a message, else undefined. */
function pbFields(b: Uint8Array, start: number, end: number): PbField[] | undefined {
  const out: PbField[] = [];
  let p = start;
  while (p < end) {
    const t = varintAt(b, p, end);
    if (!t) return undefined;
    const [tag, q] = t;
    const no = Math.floor(tag / 8);
    const wire = tag % 8;
    if (no === 0) return undefined;
    if (wire === 0) {
      const v = varintAt(b, q, end);
      if (!v) return undefined;
      out.push({ no, wire, tagAt: p, valueAt: q, end: v[1], value: v[0] });
      p = v[1];
    } else if (wire === 2) {
      const l = varintAt(b, q, end);
      if (!l || l[1] + l[0] > end) return undefined;
      out.push({ no, wire, tagAt: p, valueAt: l[1], end: l[1] + l[0], value: l[0] });
      p = l[1] + l[0];
    } else if (wire === 5 || wire === 1) {
      const n = wire === 5 ? 4 : 8;
      if (q + n > end) return undefined;
      out.push({ no, wire, tagAt: p, valueAt: q, end: q + n, value: 0 });
      p = q + n;
    } else return undefined;
  }
  return out;
}

/** ONNX: every length and varint field down the message tree; raw_data payloads are data, the rest structure. */
export function scanProtobuf(b: Uint8Array): Structure {
  const ints: IntField[] = [];
  const regions: Region[] = [];
  const floats: { name: string; start: number; end: number }[] = [];
  let budget = 200_000;
  const walk = (start: number, end: number, depth: number, path: string): boolean => {
    const fs = pbFields(b, start, end);
    if (!fs || depth > 12) return false;
    // A TensorProto (graph.initializer): name 8, data_type 2, raw_data 9.
    const isTensor = path.endsWith('/7/5') || path.endsWith('/5/t');
    let name = '';
    let dtype = 0;
    for (const f of fs) {
      if (--budget < 0) return true;
      ints.push({ at: f.tagAt, size: (f.wire === 0 || f.wire === 2 ? f.valueAt : f.end) - f.tagAt, kind: 'varint', value: 0, what: `tag of field ${f.no} under ${path}` });
      if (f.wire === 0) ints.push({ at: f.valueAt, size: f.end - f.valueAt, kind: 'varint', value: f.value, what: `field ${f.no} under ${path}` });
      if (f.wire === 2) {
        const lenAt = varintStart(b, f.tagAt);
        ints.push({ at: lenAt, size: f.valueAt - lenAt, kind: 'varint', value: f.value, what: `length of field ${f.no} under ${path}` });
        if (isTensor && f.no === 8) name = Buffer.from(b.subarray(f.valueAt, f.end)).toString('utf8');
        if (isTensor && f.no === 9) continue; // raw_data: payload is data
        regions.push({ start: f.tagAt, end: f.valueAt });
        // Strings and packed numbers parse as messages only by chance; small payloads are cheap to try.
        if (f.end - f.valueAt <= 1 << 16) {
          if (!walk(f.valueAt, f.end, depth + 1, `${path}/${f.no}`)) regions.push({ start: f.valueAt, end: f.end });
        }
      } else regions.push({ start: f.tagAt, end: f.end });
      if (isTensor && f.no === 2 && f.wire === 0) dtype = f.value;
    }
    if (isTensor && dtype === 1) {
      const raw = fs.find((f) => f.no === 9 && f.wire === 2);
      if (raw) floats.push({ name, start: raw.valueAt, end: raw.end });
    }
    return true;
  };
  walk(0, b.length, 0, '');
  return { ints, regions: merge(regions), floats };
}

/** Offset of the length varint of a Bytes field whose tag starts at tagAt. */
function varintStart(b: Uint8Array, tagAt: number): number {
  let p = tagAt;
  while (b[p] & 0x80) p++;
  return p + 1;
}

// ---- safetensors ----

export function scanSafetensors(b: Uint8Array): Structure {
  const ints: IntField[] = [];
  const floats: { name: string; start: number; end: number }[] = [];
  if (b.length < 8) return { ints, regions: [{ start: 0, end: b.length }], floats };
  const n = Number(Buffer.from(b.buffer, b.byteOffset, 8).readBigUInt64LE(0));
  ints.push({ at: 0, size: 8, kind: 'u64', value: n, what: 'header length' });
  const headerEnd = Math.min(b.length, 8 + Math.min(n, b.length));
  const header = Buffer.from(b.buffer, b.byteOffset + 8, headerEnd - 8).toString('latin1');
  // Every number in the JSON is a shape dim or a data offset.
  for (const m of header.matchAll(/[0-9]+/g)) {
    ints.push({ at: 8 + m.index!, size: m[0].length, kind: 'u64', value: Number(m[0]), what: 'JSON number' });
  }
  try {
    const json = JSON.parse(header) as Record<string, { dtype?: string; data_offsets?: [number, number] }>;
    for (const [name, e] of Object.entries(json)) {
      if (e?.dtype === 'F32' && Array.isArray(e.data_offsets)) floats.push({ name, start: headerEnd + e.data_offsets[0], end: headerEnd + e.data_offsets[1] });
    }
  } catch {
    // a mutated header: no float regions
  }
  return { ints, regions: [{ start: 0, end: headerEnd }], floats };
}

// ---- zip ----

export interface ZipItem {
  readonly name: string;
  readonly data: Uint8Array;
  readonly method: number;
}

const ZIP_LOCAL = 0x04034b50;
const ZIP_CENTRAL = 0x02014b50;
const ZIP_END = 0x06054b50;

/** The fields a zip reader trusts: local and central header sizes and offsets, and the end record. */
export function scanZip(b: Uint8Array): Structure {
  const ints: IntField[] = [];
  const regions: Region[] = [];
  const floats: { name: string; start: number; end: number }[] = [];
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const field = (at: number, kind: 'u16' | 'u32' | 'u64', what: string) => {
    const size = kind === 'u16' ? 2 : kind === 'u32' ? 4 : 8;
    if (at + size > b.length) return;
    const value = kind === 'u16' ? v.getUint16(at, true) : kind === 'u32' ? v.getUint32(at, true) : Number(v.getBigUint64(at, true));
    ints.push({ at, size, kind, value, what });
  };
  for (let p = b.indexOf(0x50); p >= 0 && p + 4 <= b.length; p = b.indexOf(0x50, p + 1)) {
    if (b[p + 1] !== 0x4b) continue;
    const sig = v.getUint32(p, true);
    if (sig === ZIP_LOCAL && p + 30 <= b.length) {
      const nameLength = v.getUint16(p + 26, true);
      const extra = v.getUint16(p + 28, true);
      const name = Buffer.from(b.subarray(p + 30, Math.min(b.length, p + 30 + nameLength))).toString('latin1');
      for (const [o, k, w] of [[8, 'u16', 'method'], [14, 'u32', 'crc'], [18, 'u32', 'compressed size'], [22, 'u32', 'size'], [26, 'u16', 'name length'], [28, 'u16', 'extra length']] as const) field(p + o, k, `local ${w} of ${name}`);
      regions.push({ start: p, end: Math.min(b.length, p + 30 + nameLength + extra) });
    } else if (sig === ZIP_CENTRAL && p + 46 <= b.length) {
      const nameLength = v.getUint16(p + 28, true);
      const name = Buffer.from(b.subarray(p + 46, Math.min(b.length, p + 46 + nameLength))).toString('latin1');
      for (const [o, k, w] of [[10, 'u16', 'method'], [16, 'u32', 'crc'], [20, 'u32', 'compressed size'], [24, 'u32', 'size'], [28, 'u16', 'name length'], [30, 'u16', 'extra length'], [32, 'u16', 'comment length'], [42, 'u32', 'header offset']] as const) field(p + o, k, `central ${w} of ${name}`);
      regions.push({ start: p, end: Math.min(b.length, p + 46 + nameLength + v.getUint16(p + 30, true)) });
    } else if (sig === ZIP_END && p + 22 <= b.length) {
      for (const [o, k, w] of [[8, 'u16', 'entries on disk'], [10, 'u16', 'entries'], [12, 'u32', 'directory size'], [16, 'u32', 'directory offset'], [20, 'u16', 'comment length']] as const) field(p + o, k, `end record ${w}`);
      regions.push({ start: p, end: Math.min(b.length, p + 22) });
    } else if (sig === 0x06064b50 && p + 56 <= b.length) {
      for (const [o, w] of [[24, 'zip64 entries on disk'], [32, 'zip64 entries'], [40, 'zip64 directory size'], [48, 'zip64 directory offset']] as const) field(p + o, 'u64', w);
      regions.push({ start: p, end: p + 56 });
    } else if (sig === 0x07064b50 && p + 20 <= b.length) {
      field(p + 8, 'u64', 'zip64 end record offset');
      regions.push({ start: p, end: p + 20 });
    }
  }
  // Storages (data/N) hold tensor data; every other entry (data.pkl, version, byteorder) is structure.
  for (const e of zipEntries(b) ?? []) {
    const r = { start: e.dataAt, end: Math.min(b.length, e.dataAt + e.compressedSize) };
    if (/\/data\/\d+$/.test(e.name)) floats.push({ name: e.name, ...r });
    else regions.push(r);
  }
  return { ints, regions: merge(regions), floats };
}

interface ZipEntryAt {
  readonly name: string;
  readonly method: number;
  readonly dataAt: number;
  readonly compressedSize: number;
}

/** Entries of a well-formed archive (the corpus files), through the central directory; undefined if it is not one. */
function zipEntries(b: Uint8Array): ZipEntryAt[] | undefined {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const u16 = (at: number) => (at + 2 <= b.length ? v.getUint16(at, true) : NaN);
  const u32 = (at: number) => (at + 4 <= b.length ? v.getUint32(at, true) : NaN);
  const u64 = (at: number) => (at + 8 <= b.length ? Number(v.getBigUint64(at, true)) : NaN);
  let end = -1;
  for (let p = b.length - 22; p >= Math.max(0, b.length - 22 - 0xffff); p--) {
    if (u32(p) === ZIP_END) {
      end = p;
      break;
    }
  }
  if (end < 0) return undefined;
  let count = u16(end + 10);
  let cd = u32(end + 16);
  if (end >= 20 && u32(end - 20) === 0x07064b50) {
    const rec = u64(end - 12);
    count = u64(rec + 32);
    cd = u64(rec + 48);
  }
  const out: ZipEntryAt[] = [];
  let p = cd;
  for (let i = 0; i < count; i++) {
    if (u32(p) !== ZIP_CENTRAL) return undefined;
    const method = u16(p + 10);
    let csize = u32(p + 20);
    let usize = u32(p + 24);
    const nameLength = u16(p + 28);
    const extraLength = u16(p + 30);
    const commentLength = u16(p + 32);
    let lho = u32(p + 42);
    const name = Buffer.from(b.subarray(p + 46, p + 46 + nameLength)).toString('utf8');
    // zip64 extra: the fields that are 0xffffffff, in order
    let e = p + 46 + nameLength;
    const extraEnd = e + extraLength;
    while (e + 4 <= extraEnd) {
      const len = u16(e + 2);
      if (u16(e) === 1) {
        let q = e + 4;
        if (usize === 0xffffffff) (usize = u64(q)), (q += 8);
        if (csize === 0xffffffff) (csize = u64(q)), (q += 8);
        if (lho === 0xffffffff) lho = u64(q);
      }
      e += 4 + len;
    }
    const dataAt = lho + 30 + u16(lho + 26) + u16(lho + 28);
    if (!(dataAt + csize <= b.length)) return undefined;
    out.push({ name, method, dataAt, compressedSize: csize });
    p += 46 + nameLength + extraLength + commentLength;
  }
  return out;
}

/** The entries' names and (inflated) contents. */
export function unzip(b: Uint8Array): ZipItem[] | undefined {
  const entries = zipEntries(b);
  if (!entries) return undefined;
  return entries.map((e) => {
    const raw = b.subarray(e.dataAt, e.dataAt + e.compressedSize);
    return { name: e.name, method: e.method, data: e.method === 8 ? zlib.inflateRawSync(raw) : raw };
  });
}

/** A stored (or deflated) zip of the items, with correct sizes and CRCs, data aligned to 64 bytes. */
export function zip(items: readonly ZipItem[]): Uint8Array {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const it of items) {
    const name = Buffer.from(it.name, 'utf8');
    const data = it.method === 8 ? zlib.deflateRawSync(it.data) : Buffer.from(it.data);
    const crc = crc32(it.data);
    let pad = (64 - ((offset + 30 + name.length) % 64)) % 64;
    if (pad > 0 && pad < 4) pad += 64;
    const extra = Buffer.alloc(pad, 0x5a);
    if (pad) extra.write('FB', 0, 'latin1'), extra.writeUInt16LE(pad - 4, 2);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(ZIP_LOCAL, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x800, 6);
    local.writeUInt16LE(it.method, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(it.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(extra.length, 28);
    parts.push(local, name, extra, data);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(ZIP_CENTRAL, 0);
    c.writeUInt16LE(20, 4);
    c.writeUInt16LE(20, 6);
    c.writeUInt16LE(0x800, 8);
    c.writeUInt16LE(it.method, 10);
    c.writeUInt32LE(crc, 16);
    c.writeUInt32LE(data.length, 20);
    c.writeUInt32LE(it.data.length, 24);
    c.writeUInt16LE(name.length, 28);
    c.writeUInt32LE(offset, 42);
    central.push(c, name);
    offset += 30 + name.length + extra.length + data.length;
  }
  const cdSize = central.reduce((n, c) => n + c.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(ZIP_END, 0);
  end.writeUInt16LE(items.length, 8);
  end.writeUInt16LE(items.length, 10);
  end.writeUInt32LE(cdSize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, ...central, end]);
}

let crcTable: Uint32Array | undefined;

function crc32(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = crcTable[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

// ---- pickle ----

/** How an opcode's argument is stored. 'line' args end at a newline; 'counted' ones are a length then bytes. */
type PickleArg = 'none' | 'u8' | 'u16' | 'i32' | 'u32' | 'u64' | 'f64' | 'line' | 'line2' | 'counted8' | 'counted32' | 'counted64' | 'countedI32';

const PICKLE_ARGS: Readonly<Record<number, PickleArg>> = {
  0x80: 'u8', 0x95: 'u64', 0x4b: 'u8', 0x4d: 'u16', 0x4a: 'i32', 0x71: 'u8', 0x68: 'u8', 0x72: 'u32', 0x6a: 'u32',
  0x82: 'u8', 0x83: 'u16', 0x84: 'i32', 0x47: 'f64',
  0x55: 'counted8', 0x8c: 'counted8', 0x43: 'counted8', 0x8a: 'counted8',
  0x54: 'countedI32', 0x58: 'counted32', 0x42: 'counted32', 0x8b: 'countedI32',
  0x8d: 'counted64', 0x8e: 'counted64', 0x96: 'counted64',
  0x63: 'line2', 0x69: 'line2', 0x49: 'line', 0x4c: 'line', 0x46: 'line', 0x53: 'line', 0x56: 'line', 0x70: 'line', 0x67: 'line', 0x50: 'line',
};

export interface PickleOp {
  readonly at: number;
  readonly op: number;
  /** Offset and size of the integer argument (a value or a length), if any. */
  readonly int?: { readonly at: number; readonly size: number; readonly kind: 'u8' | 'u16' | 'i32' | 'u32' | 'u64' };
  readonly end: number;
}

/** Opcodes of a well-formed pickle up to STOP (or the first byte that does not fit). */
export function pickleOps(b: Uint8Array): PickleOp[] {
  const ops: PickleOp[] = [];
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let p = 0;
  while (p < b.length) {
    const op = b[p];
    const arg = PICKLE_ARGS[op] ?? 'none';
    const a = p + 1;
    let end: number;
    let int: PickleOp['int'];
    const sized = { u8: 1, u16: 2, i32: 4, u32: 4, u64: 8 } as const;
    switch (arg) {
      case 'none':
        end = a;
        break;
      case 'f64':
        end = a + 8;
        break;
      case 'u8':
      case 'u16':
      case 'i32':
      case 'u32':
      case 'u64':
        int = { at: a, size: sized[arg], kind: arg };
        end = a + sized[arg];
        break;
      case 'line':
      case 'line2': {
        let q = b.indexOf(0x0a, a);
        if (arg === 'line2' && q >= 0) q = b.indexOf(0x0a, q + 1);
        if (q < 0) return ops;
        end = q + 1;
        break;
      }
      default: {
        const kind = arg === 'counted8' ? 'u8' : arg === 'counted32' ? 'u32' : arg === 'countedI32' ? 'i32' : 'u64';
        const size = sized[kind];
        if (a + size > b.length) return ops;
        const n = size === 1 ? b[a] : size === 4 ? v.getUint32(a, true) : Number(v.getBigUint64(a, true));
        int = { at: a, size, kind };
        end = a + size + n;
      }
    }
    if (end > b.length) return ops;
    ops.push({ at: p, op, int, end });
    p = end;
    if (op === 0x2e) break;
  }
  return ops;
}

// ---- helpers ----

function merge(regions: Region[]): Region[] {
  const sorted = regions.filter((r) => r.end > r.start).sort((a, b) => a.start - b.start);
  const out: Region[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.start <= last.end) out[out.length - 1] = { start: last.start, end: Math.max(last.end, r.end) };
    else out.push(r);
  }
  return out;
}
