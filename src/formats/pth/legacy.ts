// Recognizes the checkpoint formats torch.save wrote before the zip format (PyTorch < 1.6), so they can be
// refused with a way out instead of a generic "not a zip" message.

/** The number the legacy format pickles first, little-endian as LONG1 stores it. */
const LEGACY_MAGIC = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]; // 0x1950a86a20f9469cfc6c

export type LegacyKind = 'pickle' | 'tar';

/** Looks at the first 512 bytes (or fewer). */
export function legacyKind(head: Uint8Array): LegacyKind | undefined {
  let p = 0;
  if (head[p] === 0x80) p += 2; // PROTO n
  if (head[p] === 0x95) p += 9; // FRAME length
  if (head[p] === 0x8a && head[p + 1] === LEGACY_MAGIC.length && LEGACY_MAGIC.every((b, i) => head[p + 2 + i] === b)) return 'pickle';
  // Older still: a tar archive holding 'sys_info', 'pickle', 'storages' and 'tensors'.
  if (head.length >= 262 && String.fromCharCode(...head.subarray(257, 262)) === 'ustar') return 'tar';
  return undefined;
}

export const RESAVE_HINT =
  'load and re-save it with a recent PyTorch, which writes the zip format: python -c "import torch; torch.save(torch.load(\'in.pth\'), \'out.pth\')"';
