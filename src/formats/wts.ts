// The .wts text format of TensorRT-RepVGG / tensorrtx: the entry count on the first line, then one line per
// tensor, `name numel` and each value as float32 in 8 lowercase hex digits of its big-endian bits.
// Only floating-point tensors are written (num_batches_tracked and other integers are left out). The format
// has no room for anything else (checkers count every line as an entry), so a .wts carries no stamp.
import * as fs from 'fs';
import { DType, dtypeInfo, numel } from '../dtype';
import { FormatError, UserError } from '../errors';
import { halfToFloat, Tensor } from '../tensor';
import { writeFileAtomic } from './atomic-file';
import { FileSink } from './sink';
import { collectEntries, forEachChunk, StateDict, TensorEntries } from './state-dict';

const FORMAT = 'a .wts weights file';
let hex16: Uint32Array | undefined;

/** The four lowercase hex digits of every 16-bit value as ASCII, packed little-endian in a 32-bit word. */
function hexDigits16(): Uint32Array {
  if (!hex16) {
    hex16 = new Uint32Array(65536);
    for (let v = 0; v < 65536; v++) {
      const s = v.toString(16).padStart(4, '0');
      hex16[v] = (s.charCodeAt(0) | (s.charCodeAt(1) << 8) | (s.charCodeAt(2) << 16) | (s.charCodeAt(3) << 24)) >>> 0;
    }
  }
  return hex16;
}

/** True for the tensors a .wts file carries. */
export function wtsIncludes(t: Tensor): boolean {
  return dtypeInfo(t.dtype).isFloat;
}

export function writeWts(file: string, entries: TensorEntries): void {
  writeFileAtomic(file, (sink) => writeWtsTo(sink, entries));
}

/** The .wts text into a sink (a staged file). */
export function writeWtsTo(sink: FileSink, entries: TensorEntries): void {
  const list = collectEntries(entries).filter(([, t]) => wtsIncludes(t));
  for (const [name] of list) {
    if (name === '' || /\s/.test(name)) throw new UserError(`tensor name '${name}' is empty or has whitespace, which .wts cannot hold`, { code: 'BAD_USAGE' });
  }
  sink.expect(sink.written + list.reduce((n, [, t]) => n + 9 * numel(t.shape), 0));
  sink.write(Buffer.from(`${list.length}\n`));
  for (const [name, t] of list) {
    sink.write(Buffer.from(`${name} ${numel(t.shape)}`));
    const size = dtypeInfo(t.dtype).size;
    // Chunks hold whole elements; their text (9 bytes each) is made in the writer's buffer.
    forEachChunk(t, (b) => sink.fill(9 * (b.length / size), (out) => hexText(b, t.dtype, out)), size * TEXT_CHUNK);
    sink.write(Buffer.from('\n'));
  }
}

/** Elements per chunk: their text (2.25 MiB) fits in one slot of the writer's ring. */
const TEXT_CHUNK = 1 << 18;

/** ' xxxxxxxx' per element into `out`: the value as float32, its bits big-endian in lowercase hex. */
function hexText(b: Uint8Array, dtype: DType, out: Uint8Array): void {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const text = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const digits = hexDigits16();
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  const size = dtypeInfo(dtype).size;
  const n = b.length / size;
  for (let i = 0, o = 0; i < n; i++, o += 9) {
    let x: number;
    switch (dtype) {
      case 'float32':
        x = dv.getUint32(4 * i, true);
        break;
      case 'float16':
        f[0] = halfToFloat(dv.getUint16(2 * i, true));
        x = u[0];
        break;
      case 'bfloat16':
        x = dv.getUint16(2 * i, true) << 16;
        break;
      case 'float64':
        f[0] = dv.getFloat64(8 * i, true);
        x = u[0];
        break;
      default:
        throw new TypeError(`${dtype} is not written to .wts`);
    }
    // Four digits at a time: a table of 64K words writes the text three times as fast as one of bytes.
    text.setUint8(o, 0x20);
    text.setUint32(o + 1, digits[x >>> 16], true);
    text.setUint32(o + 5, digits[x & 0xffff], true);
  }
}

/** Reads a whole .wts file into float32 tensors (1-D: the format keeps no shapes). */
export function readWts(file: string): StateDict {
  const text = fs.readFileSync(file, 'latin1');
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const fail = (line: number, reason: string): FormatError => {
    const offset = lines.slice(0, line).reduce((a, l) => a + l.length + 1, 0);
    return new FormatError(file, FORMAT, `line ${line + 1}: ${reason}`, { offset });
  };
  if (!/^\d+$/.test(lines[0] ?? '')) throw fail(0, 'first line is not an entry count');
  const count = Number(lines[0]);
  if (lines.length - 1 !== count) throw fail(Math.min(lines.length, count + 1), `count says ${count} entries but the file has ${lines.length - 1}`);
  const tensors = new Map<string, Tensor>();
  for (let i = 1; i <= count; i++) {
    const fields = lines[i].split(' ');
    const [name, n] = fields;
    if (!name || !/^\d+$/.test(n ?? '')) throw fail(i, 'does not start with a name and an element count');
    const values = fields.slice(2);
    if (values.length !== Number(n)) throw fail(i, `'${name}' says ${n} values but has ${values.length}`);
    if (tensors.has(name)) throw fail(i, `'${name}' appears twice`);
    const out = new Float32Array(values.length);
    const u = new Uint32Array(out.buffer);
    for (let k = 0; k < values.length; k++) {
      if (!/^[0-9a-f]{8}$/.test(values[k])) throw fail(i, `'${name}' value ${k} is '${values[k].slice(0, 12)}', not 8 lowercase hex digits`);
      u[k] = parseInt(values[k], 16);
    }
    tensors.set(name, { dtype: 'float32', shape: [values.length], data: { kind: 'memory', bytes: new Uint8Array(out.buffer) } });
  }
  return { tensors, metadata: {}, notes: [] };
}
