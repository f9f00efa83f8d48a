// A Python pickle reader (protocols 0-5) that builds plain data and never runs anything: every global the
// stream names goes through hooks.findGlobal, which answers from an allow-list or refuses. Bounded against
// hostile input: mark depth, object count and integer size are capped, nothing here recurses, and what
// the objects built take in memory is counted before each is made, against a budget in proportion to
// the pickle's length: two bytes of pickle make an empty dict of some 200 bytes, so a length cap alone
// would let a 16 MB pickle take gigabytes.
import { DecodeError } from '../../errors';
import { printable } from '../printable';

export class PyTuple {
  constructor(readonly items: readonly PyValue[]) {}
}

export class PyBytes {
  constructor(readonly bytes: Uint8Array) {}
}

/** dict / OrderedDict; `attrs` holds instance state set by BUILD (e.g. a state_dict's `_metadata`). */
export class PyDict extends Map<PyValue, PyValue> {
  attrs?: PyDict;
  constructor(readonly pyType: string = 'dict') {
    super();
  }
}

export class PySet {
  readonly items: PyValue[] = [];
  constructor(readonly frozen: boolean) {}
}

/** A global the hooks allowed. Calling it is the hooks' code, never the file's. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
    readonly call: (args: readonly PyValue[], at: number) => PyValue,
    readonly isClass = false,
  ) {}
  get qualname(): string {
    return `${this.module}.${this.name}`;
  }
}

/** Values the hooks make (storages, tensors); opaque to the reader. */
export abstract class HostValue {
  abstract readonly pyType: string;
  /** BUILD on this value; refuse unless overridden. */
  setState(_state: PyValue, at: number): void {
    throw new DecodeError(`pickle sets state on a ${this.pyType}, which is not allowed`, at);
  }
}

export type PyValue = null | boolean | number | bigint | string | PyBytes | PyTuple | PyValue[] | PyDict | PySet | PyGlobal | HostValue;

export interface UnpickleHooks {
  /** Return the allowed global or throw (refusal by name). */
  findGlobal(module: string, name: string, at: number): PyGlobal;
  persistentLoad(pid: PyValue, at: number): PyValue;
}

export interface UnpickleOptions {
  /** File offset of byte 0 of the pickle, so messages point into the file. */
  readonly base?: number;
  readonly maxMarkDepth?: number;
  readonly maxObjects?: number;
  readonly maxIntBytes?: number;
  /** Memory the objects built may take, in bytes; default PICKLE_LIMITS.memory(length). */
  readonly maxMemory?: number;
}

export const PICKLE_LIMITS = {
  maxMarkDepth: 10_000,
  maxObjects: 1 << 24,
  maxIntBytes: 1024,
  maxLine: 65_536,
  /**
   * A state dict's pickle builds up to about 25 bytes of objects (as COST counts them) per byte of
   * pickle: a tensor record of ~100 bytes builds ~2.5 KB. Past 256 MiB (a pickle of some 7 MB, 40,000
   * tensors) nothing a checkpoint holds needs more.
   */
  memory: (length: number): number => Math.min(256 * 2 ** 20, 64 * 2 ** 20 + 32 * length),
} as const;

/**
 * What each thing built costs in V8, in bytes, rounded up, growth slack of arrays and maps included
 * (measured on Node 20: 8 million empty dicts with their memo entries took 2.2 GB).
 */
const COST = { slot: 16, memo: 64, mark: 32, dict: 200, dictItem: 48, list: 64, tuple: 64, string: 32, bytes: 160, bigint: 32, number: 16, set: 64, made: 256 } as const;

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function unpickle(bytes: Uint8Array, hooks: UnpickleHooks, options: UnpickleOptions = {}): PyValue {
  return new Unpickler(bytes, hooks, options).run();
}

/** Short description of a value for messages (bounded, no recursion past one level). */
export function describe(v: PyValue): string {
  if (v === null) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (typeof v === 'string') return printable(JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v));
  if (v instanceof PyTuple) return `tuple of ${v.items.length}`;
  if (Array.isArray(v)) return `list of ${v.length}`;
  if (v instanceof PyDict) return `${v.pyType} of ${v.size}`;
  if (v instanceof PySet) return `${v.frozen ? 'frozenset' : 'set'} of ${v.items.length}`;
  if (v instanceof PyBytes) return `bytes of ${v.bytes.length}`;
  if (v instanceof PyGlobal) return printable(v.qualname);
  return v.pyType;
}

class Unpickler {
  private pos = 0;
  private stack: PyValue[] = [];
  private readonly metastack: PyValue[][] = [];
  private readonly memo = new Map<number, PyValue>();
  private objects = 0;
  private used = 0;
  private readonly maxMemory: number;
  private readonly base: number;
  private readonly maxMarkDepth: number;
  private readonly maxObjects: number;
  private readonly maxIntBytes: number;
  private readonly view: DataView;
  /** Offset of the opcode being run, for messages. */
  private at = 0;

  constructor(private readonly b: Uint8Array, private readonly hooks: UnpickleHooks, o: UnpickleOptions) {
    this.base = o.base ?? 0;
    this.maxMarkDepth = o.maxMarkDepth ?? PICKLE_LIMITS.maxMarkDepth;
    this.maxObjects = o.maxObjects ?? PICKLE_LIMITS.maxObjects;
    this.maxIntBytes = o.maxIntBytes ?? PICKLE_LIMITS.maxIntBytes;
    this.maxMemory = o.maxMemory ?? PICKLE_LIMITS.memory(b.length);
    this.view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }

  private fail(reason: string, at = this.at): DecodeError {
    return new DecodeError(`data.pkl: ${reason}`, this.base + at);
  }

  // ---- input ----

  private need(n: number): number {
    if (!Number.isSafeInteger(n) || n < 0 || this.pos + n > this.b.length) {
      throw this.fail(`unexpected end of data (needs ${n} more bytes)`, this.pos);
    }
    const p = this.pos;
    this.pos += n;
    return p;
  }
  private u8(): number {
    return this.b[this.need(1)];
  }
  private u16(): number {
    return this.view.getUint16(this.need(2), true);
  }
  private i32(): number {
    return this.view.getInt32(this.need(4), true);
  }
  private u32(): number {
    return this.view.getUint32(this.need(4), true);
  }
  private u64(): number {
    const v = this.view.getBigUint64(this.need(8), true);
    if (v > BigInt(this.b.length)) throw this.fail(`length ${v} is past the end of data`);
    return Number(v);
  }
  private take(n: number): Uint8Array {
    const p = this.need(n);
    return this.b.subarray(p, p + n);
  }
  private rawLine(): Uint8Array {
    const end = this.b.indexOf(0x0a, this.pos);
    if (end < 0 || end - this.pos > PICKLE_LIMITS.maxLine) throw this.fail('unterminated text line', this.pos);
    const raw = this.b.subarray(this.pos, end);
    this.pos = end + 1;
    return raw;
  }
  private line(): string {
    return this.text(this.rawLine());
  }
  private text(raw: Uint8Array): string {
    this.charge(COST.string + 2 * raw.length);
    try {
      return utf8.decode(raw);
    } catch {
      throw this.fail('string is not valid UTF-8');
    }
  }

  // ---- stack ----

  /** Counts memory about to be taken; refuses past the budget, before it is taken. */
  private charge(bytes: number): void {
    this.used += bytes;
    if (this.used > this.maxMemory) {
      throw this.fail(`its ${this.b.length} bytes would build more than ${Math.round(this.maxMemory / 2 ** 20)} MiB of objects, more than any checkpoint needs`);
    }
  }
  private push(v: PyValue): void {
    if (++this.objects > this.maxObjects) throw this.fail(`more than ${this.maxObjects} objects`);
    this.charge(COST.slot);
    this.stack.push(v);
  }
  private tuple(items: PyValue[]): PyTuple {
    this.charge(COST.tuple + COST.slot * items.length);
    return new PyTuple(items);
  }
  private dict(): PyDict {
    this.charge(COST.dict);
    return new PyDict();
  }
  private bytesOf(b: Uint8Array): PyBytes {
    this.charge(COST.bytes);
    return new PyBytes(b);
  }
  private pop(): PyValue {
    if (this.stack.length === 0) throw this.fail('stack underflow');
    return this.stack.pop() as PyValue;
  }
  private top(): PyValue {
    if (this.stack.length === 0) throw this.fail('stack underflow');
    return this.stack[this.stack.length - 1];
  }
  private popMark(): PyValue[] {
    const items = this.stack;
    const prev = this.metastack.pop();
    if (!prev) throw this.fail('no MARK to pop to');
    this.stack = prev;
    return items;
  }
  private int(v: bigint): number | bigint {
    if (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
    this.charge(COST.bigint + (v.toString(16).length >> 1));
    return v;
  }
  private long(n: number): number | bigint {
    if (n < 0) throw this.fail('negative integer length');
    if (n > this.maxIntBytes) throw this.fail(`integer of ${n} bytes is larger than ${this.maxIntBytes}`);
    const raw = this.take(n);
    if (n === 0) return 0;
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(raw[i]);
    if (raw[n - 1] & 0x80) v -= 1n << BigInt(8 * n);
    return this.int(v);
  }
  private textInt(s: string): number | bigint {
    const t = s.endsWith('L') ? s.slice(0, -1) : s;
    if (!/^[-+]?[0-9]+$/.test(t) || t.length > 2 * this.maxIntBytes) throw this.fail(`bad integer '${printable(s, 40)}'`);
    return this.int(BigInt(t));
  }
  private memoKey(k: number | bigint): number {
    if (typeof k !== 'number' || k < 0) throw this.fail(`bad memo index ${k}`);
    return k;
  }
  private memoPut(k: number): void {
    if (!this.memo.has(k)) this.charge(COST.memo);
    this.memo.set(k, this.top());
  }
  private memoGet(k: number): void {
    if (!this.memo.has(k)) throw this.fail(`memo index ${k} was never stored`);
    this.push(this.memo.get(k) as PyValue);
  }
  private global(module: string, name: string): void {
    this.charge(COST.made);
    this.push(this.hooks.findGlobal(module, name, this.base + this.at));
  }
  /** What a hook builds (a storage, a tensor, an OrderedDict). */
  private made(v: PyValue): PyValue {
    this.charge(COST.made);
    return v;
  }
  private callable(v: PyValue, what: string): PyGlobal {
    if (!(v instanceof PyGlobal)) throw this.fail(`${what} on ${describe(v)}, which is not callable`);
    return v;
  }
  private instantiate(cls: PyValue, args: readonly PyValue[], what: string): void {
    const g = this.callable(cls, what);
    if (!g.isClass) throw this.fail(`${what} on ${g.qualname}, which is not a class`);
    this.push(this.made(g.call(args, this.base + this.at)));
  }
  private hashable(k: PyValue): PyValue {
    if (Array.isArray(k) || k instanceof PyDict || (k instanceof PySet && !k.frozen)) throw this.fail(`unhashable ${describe(k)} used as a key`);
    return k;
  }
  private setItems(target: PyValue, items: readonly PyValue[]): void {
    if (!(target instanceof PyDict)) throw this.fail(`SETITEM on ${describe(target)}, which is not a dict`);
    if (items.length % 2) throw this.fail('SETITEMS with an odd number of items');
    this.charge(COST.dictItem * (items.length / 2));
    for (let i = 0; i < items.length; i += 2) target.set(this.hashable(items[i]), items[i + 1]);
  }
  private appendItems(target: PyValue, items: readonly PyValue[]): void {
    if (!Array.isArray(target)) throw this.fail(`APPEND on ${describe(target)}, which is not a list`);
    this.charge(COST.slot * items.length);
    for (const it of items) target.push(it);
  }

  run(): PyValue {
    for (;;) {
      this.at = this.pos;
      const op = this.u8();
      switch (op) {
        case 0x80: { // PROTO
          const v = this.u8();
          if (v > 5) throw this.fail(`unsupported pickle protocol ${v}`);
          break;
        }
        case 0x95: // FRAME: only a hint for buffering
          this.u64();
          break;
        case 0x2e: // STOP
          if (this.metastack.length) throw this.fail('STOP inside an open MARK');
          return this.pop();
        case 0x28: // MARK
          if (this.metastack.length >= this.maxMarkDepth) throw this.fail(`MARKs nest deeper than ${this.maxMarkDepth}`);
          this.charge(COST.mark);
          this.metastack.push(this.stack);
          this.stack = [];
          break;
        case 0x30: // POP
          if (this.stack.length) this.stack.pop();
          else this.popMark();
          break;
        case 0x31: // POP_MARK
          this.popMark();
          break;
        case 0x32: // DUP
          this.push(this.top());
          break;

        // memo
        case 0x70: // PUT
          this.memoPut(this.memoKey(this.textInt(this.line())));
          break;
        case 0x71: // BINPUT
          this.memoPut(this.u8());
          break;
        case 0x72: // LONG_BINPUT
          this.memoPut(this.u32());
          break;
        case 0x94: // MEMOIZE
          this.memoPut(this.memo.size);
          break;
        case 0x67: // GET
          this.memoGet(this.memoKey(this.textInt(this.line())));
          break;
        case 0x68: // BINGET
          this.memoGet(this.u8());
          break;
        case 0x6a: // LONG_BINGET
          this.memoGet(this.u32());
          break;

        // scalars
        case 0x4e: // NONE
          this.push(null);
          break;
        case 0x88: // NEWTRUE
          this.push(true);
          break;
        case 0x89: // NEWFALSE
          this.push(false);
          break;
        case 0x49: { // INT (text; 00/01 are the old booleans)
          const s = this.line();
          this.push(s === '00' ? false : s === '01' ? true : this.textInt(s));
          break;
        }
        case 0x4c: // LONG (text)
          this.push(this.textInt(this.line()));
          break;
        case 0x46: { // FLOAT (text)
          const s = this.line();
          if (!/^[-+]?(\d+\.?\d*([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?|inf|nan)$/i.test(s)) throw this.fail(`bad float '${printable(s, 40)}'`);
          this.charge(COST.number);
          this.push(Number(s.replace(/^([-+]?)inf$/i, '$1Infinity').replace(/^[-+]?nan$/i, 'NaN')));
          break;
        }
        case 0x4a: // BININT
          this.push(this.i32());
          break;
        case 0x4b: // BININT1
          this.push(this.u8());
          break;
        case 0x4d: // BININT2
          this.push(this.u16());
          break;
        case 0x8a: // LONG1
          this.push(this.long(this.u8()));
          break;
        case 0x8b: // LONG4
          this.push(this.long(this.i32()));
          break;
        case 0x47: // BINFLOAT (big-endian)
          this.charge(COST.number);
          this.push(this.view.getFloat64(this.need(8), false));
          break;

        // strings and bytes
        case 0x53: // STRING (text, quoted repr)
          this.push(this.quoted(this.line())); // line() counted the text
          break;
        case 0x56: { // UNICODE (raw-unicode-escape: latin1 bytes plus \uXXXX escapes)
          const raw = this.rawLine();
          this.charge(COST.string + 2 * raw.length);
          this.push(rawUnicodeEscape(Buffer.from(raw).toString('latin1')));
          break;
        }
          break;
        case 0x54: { // BINSTRING
          const n = this.i32();
          if (n < 0) throw this.fail('negative string length');
          this.push(this.text(this.take(n)));
          break;
        }
        case 0x55: // SHORT_BINSTRING
          this.push(this.text(this.take(this.u8())));
          break;
        case 0x58: // BINUNICODE
          this.push(this.text(this.take(this.u32())));
          break;
        case 0x8c: // SHORT_BINUNICODE
          this.push(this.text(this.take(this.u8())));
          break;
        case 0x8d: // BINUNICODE8
          this.push(this.text(this.take(this.u64())));
          break;
        case 0x42: // BINBYTES
          this.push(this.bytesOf(this.take(this.u32())));
          break;
        case 0x43: // SHORT_BINBYTES
          this.push(this.bytesOf(this.take(this.u8())));
          break;
        case 0x8e: // BINBYTES8
        case 0x96: // BYTEARRAY8
          this.push(this.bytesOf(this.take(this.u64())));
          break;
        case 0x97: // NEXT_BUFFER
          throw this.fail('out-of-band buffers are not supported');
        case 0x98: // READONLY_BUFFER
          if (!(this.top() instanceof PyBytes)) throw this.fail('READONLY_BUFFER on something other than a buffer');
          break;

        // containers
        case 0x29: // EMPTY_TUPLE
          this.push(this.tuple([]));
          break;
        case 0x74: // TUPLE
          this.push(this.tuple(this.popMark()));
          break;
        case 0x85: // TUPLE1
          this.push(this.tuple([this.pop()]));
          break;
        case 0x86: { // TUPLE2
          const b = this.pop();
          this.push(this.tuple([this.pop(), b]));
          break;
        }
        case 0x87: { // TUPLE3
          const c = this.pop();
          const b = this.pop();
          this.push(this.tuple([this.pop(), b, c]));
          break;
        }
        case 0x5d: // EMPTY_LIST
          this.charge(COST.list);
          this.push([]);
          break;
        case 0x6c: { // LIST
          const items = this.popMark();
          this.charge(COST.list + COST.slot * items.length);
          this.push(items);
          break;
        }
          break;
        case 0x61: { // APPEND
          const v = this.pop();
          this.appendItems(this.top(), [v]);
          break;
        }
        case 0x65: { // APPENDS
          const items = this.popMark();
          this.appendItems(this.top(), items);
          break;
        }
        case 0x7d: // EMPTY_DICT
          this.push(this.dict());
          break;
        case 0x64: { // DICT
          const d = this.dict();
          this.setItems(d, this.popMark());
          this.push(d);
          break;
        }
        case 0x73: { // SETITEM
          const v = this.pop();
          const k = this.pop();
          this.setItems(this.top(), [k, v]);
          break;
        }
        case 0x75: { // SETITEMS
          const items = this.popMark();
          this.setItems(this.top(), items);
          break;
        }
        case 0x8f: // EMPTY_SET
          this.charge(COST.set);
          this.push(new PySet(false));
          break;
        case 0x90: { // ADDITEMS
          const items = this.popMark();
          const s = this.top();
          if (!(s instanceof PySet) || s.frozen) throw this.fail(`ADDITEMS on ${describe(s)}, which is not a set`);
          this.charge(COST.slot * items.length);
          for (const it of items) s.items.push(this.hashable(it));
          break;
        }
        case 0x91: { // FROZENSET
          const items = this.popMark();
          this.charge(COST.set + COST.slot * items.length);
          const s = new PySet(true);
          for (const it of items) s.items.push(this.hashable(it));
          this.push(s);
          break;
        }

        // globals and calls: all through the hooks
        case 0x63: { // GLOBAL
          const module = this.line();
          this.global(module, this.line());
          break;
        }
        case 0x93: { // STACK_GLOBAL
          const name = this.pop();
          const module = this.pop();
          if (typeof module !== 'string' || typeof name !== 'string') throw this.fail('STACK_GLOBAL with non-string names');
          this.global(module, name);
          break;
        }
        case 0x82: // EXT1
        case 0x83: // EXT2
        case 0x84: { // EXT4
          const code = op === 0x82 ? this.u8() : op === 0x83 ? this.u16() : this.i32();
          throw this.fail(`refers to extension code ${code}; the extension registry is not allowed`);
        }
        case 0x52: { // REDUCE
          const args = this.pop();
          const f = this.callable(this.pop(), 'REDUCE');
          if (!(args instanceof PyTuple)) throw this.fail(`REDUCE with ${describe(args)} as arguments`);
          this.push(this.made(f.call(args.items, this.base + this.at)));
          break;
        }
        case 0x81: { // NEWOBJ
          const args = this.pop();
          const cls = this.pop();
          if (!(args instanceof PyTuple)) throw this.fail(`NEWOBJ with ${describe(args)} as arguments`);
          this.instantiate(cls, args.items, 'NEWOBJ');
          break;
        }
        case 0x92: { // NEWOBJ_EX
          const kwargs = this.pop();
          const args = this.pop();
          const cls = this.pop();
          if (!(args instanceof PyTuple) || !(kwargs instanceof PyDict)) throw this.fail('NEWOBJ_EX with malformed arguments');
          if (kwargs.size) throw this.fail('NEWOBJ_EX with keyword arguments is not supported');
          this.instantiate(cls, args.items, 'NEWOBJ_EX');
          break;
        }
        case 0x6f: { // OBJ
          const items = this.popMark();
          if (!items.length) throw this.fail('OBJ without a class');
          this.instantiate(items[0], items.slice(1), 'OBJ');
          break;
        }
        case 0x69: { // INST
          const module = this.line();
          const name = this.line();
          const args = this.popMark();
          this.instantiate(this.hooks.findGlobal(module, name, this.base + this.at), args, 'INST');
          break;
        }
        case 0x62: { // BUILD
          const state = this.pop();
          const obj = this.top();
          if (obj instanceof HostValue) obj.setState(state, this.base + this.at);
          else if (obj instanceof PyDict && state instanceof PyDict) obj.attrs = state;
          else throw this.fail(`BUILD on ${describe(obj)} with ${describe(state)} is not allowed`);
          break;
        }
        case 0x50: // PERSID
          this.push(this.made(this.hooks.persistentLoad(this.line(), this.base + this.at)));
          break;
        case 0x51: // BINPERSID
          this.push(this.made(this.hooks.persistentLoad(this.pop(), this.base + this.at)));
          break;
        default:
          throw this.fail(`unknown opcode 0x${op.toString(16).padStart(2, '0')}`);
      }
    }
  }

  /** Protocol-0 STRING: a quoted Python literal with backslash escapes. */
  private quoted(s: string): string {
    const q = s[0];
    if (s.length < 2 || (q !== '"' && q !== "'") || s[s.length - 1] !== q) throw this.fail('STRING is not quoted');
    const body = s.slice(1, -1);
    let out = '';
    for (let i = 0; i < body.length; i++) {
      const c = body[i];
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = body[++i];
      const simple: Record<string, string> = { n: '\n', r: '\r', t: '\t', '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', v: '\v', '\n': '' };
      if (e !== undefined && e in simple) out += simple[e];
      else if (e === 'x' && /^[0-9a-fA-F]{2}$/.test(body.slice(i + 1, i + 3))) {
        out += String.fromCharCode(parseInt(body.slice(i + 1, i + 3), 16));
        i += 2;
      } else if (e !== undefined && /[0-7]/.test(e)) {
        const m = /^[0-7]{1,3}/.exec(body.slice(i)) as RegExpExecArray;
        out += String.fromCharCode(parseInt(m[0], 8) & 0xff);
        i += m[0].length - 1;
      } else out += '\\' + (e ?? '');
    }
    return out;
  }
}

function rawUnicodeEscape(s: string): string {
  return s.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_, u4: string | undefined, u8: string | undefined) =>
    String.fromCodePoint(Math.min(parseInt((u4 ?? u8) as string, 16), 0x10ffff)),
  );
}
