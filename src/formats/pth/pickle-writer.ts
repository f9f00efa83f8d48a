// Emits the protocol-2 pickle opcodes a PyTorch state dict needs, and only those (the set that
// torch.load(weights_only=True) understands). Globals and repeated strings are memoized like Python does.

export class PickleWriter {
  private readonly parts: number[] = [];
  private readonly memo = new Map<string, number>();

  constructor() {
    this.parts.push(0x80, 2); // PROTO 2
  }

  private bytes(b: ArrayLike<number>): void {
    for (let i = 0; i < b.length; i++) this.parts.push(b[i]);
  }
  private u32(v: number): void {
    this.parts.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
  }
  private put(key: string): void {
    const i = this.memo.size;
    this.memo.set(key, i);
    if (i < 256) this.parts.push(0x71, i); // BINPUT
    else {
      this.parts.push(0x72); // LONG_BINPUT
      this.u32(i);
    }
  }
  /** Pushes a memoized value, or makes it with `make` and memoizes it. */
  private memoized(key: string, make: () => void): void {
    const i = this.memo.get(key);
    if (i === undefined) {
      make();
      this.put(key);
    } else if (i < 256) this.parts.push(0x68, i); // BINGET
    else {
      this.parts.push(0x6a); // LONG_BINGET
      this.u32(i);
    }
  }

  global(module: string, name: string): this {
    this.memoized(`g:${module}.${name}`, () => {
      this.parts.push(0x63); // GLOBAL
      this.bytes(Buffer.from(`${module}\n${name}\n`, 'utf8'));
    });
    return this;
  }
  string(s: string, memoize = false): this {
    const emit = () => {
      const b = Buffer.from(s, 'utf8');
      this.parts.push(0x58); // BINUNICODE
      this.u32(b.length);
      this.bytes(b);
    };
    if (memoize) this.memoized(`s:${s}`, emit);
    else emit();
    return this;
  }
  int(v: number): this {
    if (!Number.isSafeInteger(v)) throw new RangeError(`${v} is not a safe integer`);
    if (v >= 0 && v < 0x100) this.parts.push(0x4b, v); // BININT1
    else if (v >= 0 && v < 0x10000) this.parts.push(0x4d, v & 0xff, v >>> 8); // BININT2
    else if (v >= -0x80000000 && v < 0x80000000) {
      this.parts.push(0x4a); // BININT
      this.u32(v >>> 0);
    } else {
      // LONG1: little-endian two's complement, as few bytes as keep the sign
      const out: number[] = [];
      let x = BigInt(v);
      for (;;) {
        const byte = Number(x & 0xffn);
        out.push(byte);
        x >>= 8n;
        if ((x === 0n && !(byte & 0x80)) || (x === -1n && byte & 0x80)) break;
      }
      this.parts.push(0x8a, out.length, ...out);
    }
    return this;
  }
  bool(v: boolean): this {
    this.parts.push(v ? 0x88 : 0x89);
    return this;
  }
  mark(): this {
    this.parts.push(0x28);
    return this;
  }
  tuple(items: readonly number[]): this {
    if (items.length === 0) {
      this.parts.push(0x29); // EMPTY_TUPLE
      return this;
    }
    if (items.length > 3) this.mark();
    for (const v of items) this.int(v);
    this.parts.push(items.length === 1 ? 0x85 : items.length === 2 ? 0x86 : items.length === 3 ? 0x87 : 0x74);
    return this;
  }
  /** TUPLE over everything since the last mark. */
  tupleFromMark(): this {
    this.parts.push(0x74);
    return this;
  }
  emptyTuple(): this {
    this.parts.push(0x29);
    return this;
  }
  reduce(): this {
    this.parts.push(0x52);
    return this;
  }
  binpersid(): this {
    this.parts.push(0x51);
    return this;
  }
  setitems(): this {
    this.parts.push(0x75);
    return this;
  }
  stop(): Uint8Array {
    this.parts.push(0x2e);
    return Uint8Array.from(this.parts);
  }
}
