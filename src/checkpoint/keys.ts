// Dotted state-dict key helpers. A block at the root of a state dict has the empty prefix.
import { printable } from '../formats/printable';

/** "a.b" + "c" → "a.b.c"; "" + "c" → "c". */
export function join(prefix: string, rest: string): string {
  return prefix ? `${prefix}.${rest}` : rest;
}

/** The prefix before a dotted suffix: ("a.b.rbr_dense.conv.weight", "rbr_dense.conv.weight") → "a.b". */
export function prefixBefore(key: string, suffix: string): string | undefined {
  if (key === suffix) return '';
  return key.endsWith(`.${suffix}`) ? key.slice(0, key.length - suffix.length - 1) : undefined;
}

/** The part after `prefix.` (or the whole key for the empty prefix); undefined when the key is not under it. */
export function under(key: string, prefix: string): string | undefined {
  if (!prefix) return key;
  return key.startsWith(`${prefix}.`) ? key.slice(prefix.length + 1) : undefined;
}

/** A short list of keys for messages. */
export function describeKeys(keys: readonly string[], max = 8): string {
  if (keys.length === 0) return 'none';
  const shown = keys.slice(0, max).map((k) => `'${printable(k)}'`).join(', ');
  return keys.length > max ? `${shown}, … (${keys.length} in all)` : shown;
}
