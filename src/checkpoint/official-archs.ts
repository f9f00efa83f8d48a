// The published architectures of the classifier families: RepVGG (DingXiaoH/RepVGG repvgg.py and
// repvggplus.py) and MobileOne S0–S4 (apple/ml-mobileone, the same in timm), as the per-block widths,
// groups, SE sizes and conv branch counts they imply, so that inferred structures can be named.
import { UserError } from '../errors';

export type ArchFamily = 'repvgg' | 'repvggplus' | 'mobileone';

export interface OfficialArch {
  readonly name: string;
  readonly family: ArchFamily;
  readonly numBlocks: readonly [number, number, number, number];
  readonly widthMultiplier: readonly [number, number, number, number];
  /** Groups of the grouped layers (every even layer index 2..26), 1 for none. */
  readonly groups: 1 | 2 | 4;
  /** SE internal width as a divisor of the block width, 0 for none. */
  readonly seDivisor: 0 | 4 | 16;
  /** RepVGGplus splits stage 3 in halves and puts its SE after the ReLU. */
  readonly plus: boolean;
  /** MobileOne: parallel kxk conv branches of every block but the stem. */
  readonly convBranches?: number;
}

const A_BLOCKS = [2, 4, 14, 1] as const;
const B_BLOCKS = [4, 6, 16, 1] as const;
const arch = (name: string, numBlocks: OfficialArch['numBlocks'], wm: OfficialArch['widthMultiplier'], groups: 1 | 2 | 4 = 1, seDivisor: 0 | 4 | 16 = 0, plus = false): OfficialArch =>
  ({ name, family: plus ? 'repvggplus' : 'repvgg', numBlocks, widthMultiplier: wm, groups, seDivisor, plus });
/** MobileOne: stages of 2/8/10/1 depthwise 3x3 + pointwise 1x1 pairs; S4 has SE in the second half of stage 3 and in stage 4. */
const mobileone = (name: string, wm: OfficialArch['widthMultiplier'], convBranches: number, se = false): OfficialArch =>
  ({ name, family: 'mobileone', numBlocks: [2, 8, 10, 1], widthMultiplier: wm, groups: 1, seDivisor: se ? 16 : 0, plus: false, convBranches });

export const OFFICIAL_ARCHS: readonly OfficialArch[] = [
  arch('RepVGG-A0', A_BLOCKS, [0.75, 0.75, 0.75, 2.5]),
  arch('RepVGG-A1', A_BLOCKS, [1, 1, 1, 2.5]),
  arch('RepVGG-A2', A_BLOCKS, [1.5, 1.5, 1.5, 2.75]),
  arch('RepVGG-B0', B_BLOCKS, [1, 1, 1, 2.5]),
  arch('RepVGG-B1', B_BLOCKS, [2, 2, 2, 4]),
  arch('RepVGG-B1g2', B_BLOCKS, [2, 2, 2, 4], 2),
  arch('RepVGG-B1g4', B_BLOCKS, [2, 2, 2, 4], 4),
  arch('RepVGG-B2', B_BLOCKS, [2.5, 2.5, 2.5, 5]),
  arch('RepVGG-B2g2', B_BLOCKS, [2.5, 2.5, 2.5, 5], 2),
  arch('RepVGG-B2g4', B_BLOCKS, [2.5, 2.5, 2.5, 5], 4),
  arch('RepVGG-B3', B_BLOCKS, [3, 3, 3, 5]),
  arch('RepVGG-B3g2', B_BLOCKS, [3, 3, 3, 5], 2),
  arch('RepVGG-B3g4', B_BLOCKS, [3, 3, 3, 5], 4),
  arch('RepVGG-D2se', [8, 14, 24, 1], [2.5, 2.5, 2.5, 5], 1, 16),
  arch('RepVGGplus-L2pse', [8, 14, 24, 1], [2.5, 2.5, 2.5, 5], 1, 4, true),
  mobileone('MobileOne-S0', [0.75, 1, 1, 2], 4),
  mobileone('MobileOne-S1', [1.5, 1.5, 2, 2.5], 1),
  mobileone('MobileOne-S2', [1.5, 2, 2.5, 4], 1),
  mobileone('MobileOne-S3', [2, 2.5, 3, 4], 1),
  mobileone('MobileOne-S4', [3, 3.5, 3.5, 4], 1, true),
];

/** Layer indices (stage0 is 0, then 1, 2, … through the stages) that the g2/g4 variants group. */
const GROUPED_LAYERS = new Set([2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26]);

/** What one block of an architecture looks like. */
export interface BlockShape {
  readonly outChannels: number;
  readonly groups: number;
  /** 0 when the block has no SE. */
  readonly seInternal: number;
  /** Parallel full-size conv branches (MobileOne's k). */
  readonly convBranches?: number;
}

/** Stages in order (stem first), each a list of block shapes. */
export function expectedStages(a: OfficialArch): BlockShape[][] {
  if (a.family === 'mobileone') return mobileOneStages(a);
  const wm = a.widthMultiplier;
  const se = (c: number) => (a.seDivisor ? Math.floor(c / a.seDivisor) : 0);
  const stem = Math.min(64, Math.floor(64 * wm[0]));
  const widths = [64, 128, 256, 512].map((base, i) => Math.floor(base * wm[i]));
  const counts: number[] = a.plus ? [a.numBlocks[0], a.numBlocks[1], a.numBlocks[2] / 2, a.numBlocks[2] / 2, a.numBlocks[3]] : [...a.numBlocks];
  const stageWidths = a.plus ? [widths[0], widths[1], widths[2], widths[2], widths[3]] : widths;
  const stages: BlockShape[][] = [[{ outChannels: stem, groups: 1, seInternal: se(stem) }]];
  let layer = 1;
  counts.forEach((n, s) => {
    const blocks: BlockShape[] = [];
    for (let i = 0; i < n; i++, layer++) {
      blocks.push({ outChannels: stageWidths[s], groups: !a.plus && GROUPED_LAYERS.has(layer) ? a.groups : 1, seInternal: se(stageWidths[s]) });
    }
    stages.push(blocks);
  });
  return stages;
}

/** MobileOne: the stem, then per stage its depthwise (groups = width) and pointwise blocks, pair by pair. */
function mobileOneStages(a: OfficialArch): BlockShape[][] {
  const wm = a.widthMultiplier;
  const k = a.convBranches ?? 1;
  let width = Math.min(64, Math.floor(64 * wm[0]));
  const stages: BlockShape[][] = [[{ outChannels: width, groups: 1, seInternal: 0, convBranches: 1 }]];
  [64, 128, 256, 512].forEach((base, s) => {
    const planes = Math.floor(base * wm[s]);
    const n = a.numBlocks[s];
    const seBlocks = a.seDivisor ? (s === 2 ? Math.floor(n / 2) : s === 3 ? n : 0) : 0;
    const blocks: BlockShape[] = [];
    for (let i = 0; i < n; i++) {
      const se = i >= n - seBlocks;
      blocks.push({ outChannels: width, groups: width, seInternal: se ? Math.floor(width / a.seDivisor) : 0, convBranches: k });
      blocks.push({ outChannels: planes, groups: 1, seInternal: se ? Math.floor(planes / a.seDivisor) : 0, convBranches: k });
      width = planes;
    }
    stages.push(blocks);
  });
  return stages;
}

/** The first difference between an inferred structure and an architecture, or undefined when they agree. */
export function archMismatch(a: OfficialArch, stages: readonly (readonly BlockShape[])[]): string | undefined {
  const want = expectedStages(a);
  if (want.length !== stages.length) return `${a.name} has ${want.length - 1} stages after the stem, the weights have ${stages.length - 1}`;
  for (let s = 0; s < want.length; s++) {
    if (want[s].length !== stages[s].length) return `stage ${s} has ${want[s].length} blocks in ${a.name}, ${stages[s].length} in the weights`;
    for (let i = 0; i < want[s].length; i++) {
      const w = want[s][i];
      const g = stages[s][i];
      const where = `stage ${s} block ${i}`;
      if (w.outChannels !== g.outChannels) return `${where} is ${w.outChannels} wide in ${a.name}, ${g.outChannels} in the weights`;
      if (w.groups !== g.groups) return `${where} has ${w.groups} groups in ${a.name}, ${g.groups} in the weights`;
      // timm rounds MobileOne's SE width its own way: there, only whether a block has one counts.
      const seDiffers = a.family === 'mobileone' ? !w.seInternal !== !g.seInternal : w.seInternal !== g.seInternal;
      if (seDiffers) return `${where} has ${w.seInternal ? `an SE of ${w.seInternal}` : 'no SE'} in ${a.name}, ${g.seInternal ? `an SE of ${g.seInternal}` : 'no SE'} in the weights`;
      if (w.convBranches !== undefined && g.convBranches !== undefined && w.convBranches !== g.convBranches) return `${where} has ${w.convBranches} conv branches in ${a.name}, ${g.convBranches} in the weights`;
    }
  }
  return undefined;
}

/** "RepVGG-B1g2", "b1g2" and "repvgg_b1g2" name the same entry; "RepVGGplus-L2pse" or "L2pse" the plus one. */
export function findOfficialArch(name: string): OfficialArch {
  const norm = (s: string) => s.toLowerCase().replace(/[-_\s]/g, '').replace(/^(repvgg(plus)?|mobileone)/, '');
  const hit = OFFICIAL_ARCHS.find((a) => norm(a.name) === norm(name));
  if (!hit) {
    throw new UserError(`unknown architecture '${name}'`, { code: 'BAD_USAGE', hint: `known: ${OFFICIAL_ARCHS.map((a) => a.name).join(', ')}` });
  }
  return hit;
}
