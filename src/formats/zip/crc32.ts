// CRC-32 (zip's checksum), incremental. Node's native zlib.crc32 when present (20.15+), else a table.
import * as zlib from 'zlib';

const native = (zlib as unknown as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

let table: Uint32Array | undefined;

function slowCrc32(data: Uint8Array, value: number): number {
  if (!table) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let c = ~value >>> 0;
  for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** CRC of `data` continuing from `value` (0 to start). */
export function crc32(data: Uint8Array, value = 0): number {
  return native ? native(data, value) >>> 0 : slowCrc32(data, value);
}

/** The table version, exported so tests can check both paths agree. */
export const crc32Portable = (data: Uint8Array, value = 0): number => slowCrc32(data, value);
