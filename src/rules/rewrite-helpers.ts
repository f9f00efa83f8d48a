// What the rewriting rules share: names for merged nodes and weights, and Conv attributes.
import { Attribute } from '../ir/attribute';
import { Node } from '../ir/graph';

/** "/stage1.0/" from "/stage1.0/rbr_dense/conv/Conv" and "/stage1.0/rbr_1x1/conv/Conv"; "" when none. */
export function blockPrefix(nodes: readonly Node[]): string {
  const names = nodes.map((n) => n.name).filter((n) => n);
  if (names.length === 0) return '';
  let p = names[0];
  for (const n of names) while (!n.startsWith(p)) p = p.slice(0, -1);
  const cut = p.lastIndexOf('/');
  return cut >= 0 ? p.slice(0, cut + 1) : '';
}

/** "stage1.0.rbr_reparam" from weight names "stage1.0.rbr_dense.conv.weight", …, or from the node prefix. */
export function paramBaseName(weightNames: readonly string[], nodePrefix: string, leaf: string): string {
  const named = weightNames.filter((n) => !n.startsWith('onnx::') && n.includes('.'));
  if (named.length === weightNames.length && named.length > 0) {
    let p = named[0];
    for (const n of named) while (!n.startsWith(p)) p = p.slice(0, -1);
    let cut = p.lastIndexOf('.');
    // Branches that are entries of one list module (MobileOne's rbr_conv.0, rbr_conv.1, …) name the block one level up.
    if (cut > 0 && named.length > 1 && named.every((n) => /^\d+\./.test(n.slice(cut + 1)))) cut = p.lastIndexOf('.', cut - 1);
    if (cut > 0) return `${p.slice(0, cut)}.${leaf}`;
  }
  const fromNodes = nodePrefix.split('/').filter((s) => s).join('.');
  return fromNodes ? `${fromNodes}.${leaf}` : leaf;
}

export function conv2dAttributes(a: {
  kernel: readonly [number, number];
  pads: readonly number[];
  strides: readonly number[];
  dilations: readonly number[];
  group: number;
}): Attribute[] {
  return [
    { name: 'dilations', value: { type: 'ints', value: [...a.dilations] } },
    { name: 'group', value: { type: 'int', value: a.group } },
    { name: 'kernel_shape', value: { type: 'ints', value: [...a.kernel] } },
    { name: 'pads', value: { type: 'ints', value: [...a.pads] } },
    { name: 'strides', value: { type: 'ints', value: [...a.strides] } },
  ];
}
