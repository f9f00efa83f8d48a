// Finds initializers stored as raw_data in an ONNX file with a minimal protobuf scan, so a test can
// change one weight in place without going through the converter's own codec.

export interface RawInitializer {
  readonly name: string;
  readonly dataType: number;
  readonly dims: readonly number[];
  /** Byte offset of the raw_data payload in the file. */
  readonly offset: number;
  readonly length: number;
}

interface ScannedField {
  readonly no: number;
  readonly wire: number;
  /** Varint value, or payload start for length-delimited fields. */
  readonly value: number;
  readonly end: number;
}

function readVarint(b: Uint8Array, at: number): [value: number, next: number] {
  let value = 0;
  let scale = 1;
  for (let i = at; i < b.length && i < at + 10; i++) {
    value += (b[i] & 0x7f) * scale;
    scale *= 128;
    if ((b[i] & 0x80) === 0) return [value, i + 1];
  }
  throw new RangeError(`bad varint at byte ${at}`);
}

function* fields(b: Uint8Array, start: number, end: number): Generator<ScannedField> {
  let at = start;
  while (at < end) {
    const [key, next] = readVarint(b, at);
    const no = Math.floor(key / 8);
    const wire = key % 8;
    at = next;
    if (wire === 0) {
      const [value, after] = readVarint(b, at);
      yield { no, wire, value, end: after };
      at = after;
    } else if (wire === 2) {
      const [len, after] = readVarint(b, at);
      yield { no, wire, value: after, end: after + len };
      at = after + len;
    } else if (wire === 5) {
      yield { no, wire, value: at, end: at + 4 };
      at += 4;
    } else if (wire === 1) {
      yield { no, wire, value: at, end: at + 8 };
      at += 8;
    } else {
      throw new RangeError(`unsupported wire type ${wire} at byte ${at}`);
    }
  }
  if (at !== end) throw new RangeError(`field overruns its message at byte ${end}`);
}

export function rawInitializers(model: Uint8Array): RawInitializer[] {
  const out: RawInitializer[] = [];
  for (const g of fields(model, 0, model.length)) {
    if (g.no !== 7 || g.wire !== 2) continue; // ModelProto.graph
    for (const t of fields(model, g.value, g.end)) {
      if (t.no !== 5 || t.wire !== 2) continue; // GraphProto.initializer
      let name = '';
      let dataType = 0;
      const dims: number[] = [];
      let raw: ScannedField | undefined;
      for (const f of fields(model, t.value, t.end)) {
        if (f.no === 1 && f.wire === 0) dims.push(f.value);
        else if (f.no === 1 && f.wire === 2) {
          for (let at = f.value; at < f.end; ) {
            const [d, next] = readVarint(model, at);
            dims.push(d);
            at = next;
          }
        } else if (f.no === 2 && f.wire === 0) dataType = f.value;
        else if (f.no === 8 && f.wire === 2) name = Buffer.from(model.subarray(f.value, f.end)).toString('utf8');
        else if (f.no === 9 && f.wire === 2) raw = f;
      }
      if (raw) out.push({ name, dataType, dims, offset: raw.value, length: raw.end - raw.value });
    }
  }
  return out;
}

/** A copy of `model` with element `index` of float32 initializer `name` set by `change`. */
export function withChangedWeight(model: Uint8Array, name: string, index: number, change: (old: number) => number): Uint8Array {
  const init = rawInitializers(model).find((i) => i.name === name);
  if (!init) throw new Error(`no raw float initializer named ${name}`);
  if (init.dataType !== 1) throw new Error(`${name} is not float32`);
  if (index < 0 || 4 * index + 4 > init.length) throw new RangeError(`${name} has no element ${index}`);
  const copy = Uint8Array.from(model);
  const view = new DataView(copy.buffer, init.offset + 4 * index, 4);
  view.setFloat32(0, change(view.getFloat32(0, true)), true);
  return copy;
}
