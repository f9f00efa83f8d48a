// `repvgg-convert inspect <model>`: what a model is and what conversion would do to it; writes nothing.
// The report goes to stdout, so it can be piped (`inspect m.onnx | grep stage`).
import { InspectResult, inspect } from '../../api/inspect';
import type { Provenance } from '../../api/provenance';
import { printable } from '../../formats/printable';
import type { GraphCost, InspectReport } from '../../inspect';
import { defined, parseInputShapes } from '../args';
import { InspectArgs } from '../flags';
import { Output } from '../output';
import { progressPrinter } from '../progress';

export async function runInspect(a: InspectArgs, out: Output): Promise<number> {
  const progress = progressPrinter(out);
  const report = await inspect(a.model, defined({ inputShapes: parseInputShapes(a['input-shape']), scheme: a.scheme, arch: a.arch, entry: a.entry, bnEps: a['bn-eps'], onEvent: progress }));
  out.document(report);
  out.report(renderInspect(report, out.verbose));
  return 0;
}

export function renderInspect(r: InspectResult, verbose: boolean): string {
  const parts = [describeModel(r)];
  if (r.provenance) parts.push(renderProvenance(r.provenance));
  if (r.blocks.length) parts.push(renderBlocks(r));
  else parts.push('blocks: none found');
  const refused = r.blocks.filter((b) => !b.merges && b.reason);
  if (refused.length) parts.push(['not merged:', ...refused.map((b) => `  ${printable(b.name)}: ${printable(b.reason!, 2000)}`)].join('\n'));
  if (r.folds.length) parts.push(renderFolds(r, verbose));
  if (r.before || r.after) parts.push(renderCounts(r));
  const lines = [...r.warnings.map((w) => `warning: ${printable(w, 2000)}`), ...r.notes.map((n) => `note: ${printable(n, 2000)}`)];
  if (lines.length) parts.push(lines.join('\n'));
  return parts.join('\n\n');
}

/** "made by repvgg-convert 0.1.0 from train.pth (sha256 e407aa80…); checked on cpu (AMD EPYC): …" */
export function renderProvenance(p: Provenance): string {
  const from = `made by ${printable(p.tool)} ${printable(p.version)} from ${printable(p.input)} (sha256 ${printable(p.inputSha256.slice(0, 16))}…)${p.scheme ? `, ${printable(p.scheme)} keys` : ''}${p.arch ? `, ${printable(p.arch)}` : ''}`;
  const c = p.check;
  if ('skipped' in c) return `${from}\n  not checked: ${printable(c.skipped, 2000)}`;
  const e = (x: number | null) => (x === null ? '-' : x.toExponential(2));
  return `${from}\n  ${c.ok ? 'checked' : 'FAILED its check'} on ${printable(c.ep)} (${printable(c.device)}), ${c.samples} sample${c.samples === 1 ? '' : 's'}: max abs ${e(c.maxAbsError)}, max rel ${e(c.maxRelError)} (atol ${c.atol}, rtol ${c.rtol})`;
}

function describeModel(r: InspectReport): string {
  const form = { train: 'training form: it still has branches or BatchNorms', deploy: 'deploy form: nothing to merge or fold (already converted)', mixed: 'mixed: some blocks are already single convs, others still have branches' }[r.form];
  const lines: string[] = [];
  if (r.onnx) {
    const o = r.onnx;
    const opsets = o.opsets.map((x) => (x.domain && x.domain !== 'ai.onnx' ? `${printable(x.domain)} ${x.version}` : `opset ${x.version}`)).join(', ');
    const producer = [o.producer, o.producerVersion].filter((x) => x).map((x) => printable(x!)).join(' ') || 'unknown';
    lines.push(`${printable(r.file)}: ONNX, IR version ${o.irVersion}, ${opsets}, produced by ${producer}`);
    for (const i of o.inputs) lines.push(`  input ${printable(i.name)}: ${i.dims ? `[${i.dims.map((d) => (d === null || d === undefined ? '?' : printable(String(d)))).join(', ')}]` : 'shape not recorded'}`);
    lines.push(`  outputs: ${o.outputs.map((x) => printable(x)).join(', ')}`);
  }
  if (r.checkpoint) {
    const c = r.checkpoint;
    lines.push(`${printable(r.file)}: ${r.format === 'pth' ? 'PyTorch checkpoint' : 'safetensors checkpoint'}, ${c.tensors} tensors`);
    lines.push(`  key scheme: ${c.scheme} (${c.schemeFrom}), BN eps ${c.bnEps}`);
    if (c.architecture) {
      const named = c.architecture === 'custom' ? 'a RepVGG classifier matching no published model' : `${c.architecture} (${c.architectureFrom})`;
      const stages = c.stages ? `; stages ${c.stages.map((s) => `${printable(s.name)} ${s.blocks}×${s.width}`).join(', ')}` : '';
      lines.push(`  architecture: ${named}${stages}${c.classes !== undefined ? `; ${c.classes} classes` : ''}`);
    } else lines.push(`  architecture: none (${printable(c.architectureMissing ?? '', 2000)})`);
  }
  lines.push(`  form: ${form}`);
  return lines.join('\n');
}

function renderBlocks(r: InspectReport): string {
  const rows = r.blocks.map((b) => [
    printable(b.name),
    printable(b.summary),
    b.stride ? (b.stride.every((x) => x === b.stride![0]) ? String(b.stride[0]) : b.stride.join('x')) : '?',
    b.groups === null ? '?' : String(b.groups),
    b.identity ? 'yes' : 'no',
    b.se ? 'yes' : 'no',
    b.merges ? `yes (${printable(b.kind ?? '')})` : b.kind ? printable(b.kind) : 'no (see below)',
  ]);
  const merging = r.blocks.filter((b) => b.merges);
  const byKind = new Map<string, number>();
  for (const b of merging) byKind.set(b.kind ?? 'merged', (byKind.get(b.kind ?? 'merged') ?? 0) + 1);
  const kinds = [...byKind].map(([k, n]) => `${n} × ${printable(k)}`).join(', ');
  return `${r.blocks.length} block${r.blocks.length === 1 ? '' : 's'}, ${merging.length} to merge${kinds ? ` (${kinds})` : ''}:\n` +
    grid(['block', 'branches', 'stride', 'groups', 'identity', 'SE', 'merge'], rows, 'llrrlll');
}

function renderFolds(r: InspectReport, verbose: boolean): string {
  const folded = r.folds.filter((f) => f.folds);
  const kept = r.folds.filter((f) => !f.folds);
  const lines = [`Conv+BN pairs outside merged blocks: ${folded.length} fold${kept.length ? `, ${kept.length} stay` : ''}`];
  const shown = verbose ? r.folds : kept;
  for (const f of shown) lines.push(`  ${printable(f.conv)}: ${f.folds ? 'folds' : `stays: ${printable(f.reason ?? '', 2000)}`}`);
  if (!verbose && folded.length) lines.push('  (--verbose lists them)');
  return lines.join('\n');
}

function renderCounts(r: InspectReport): string {
  const cell = (c: GraphCost | null, pick: (c: GraphCost) => number | null) => {
    const v = c ? pick(c) : null;
    return v === null ? '?' : v.toLocaleString('en-US');
  };
  const change = (pick: (c: GraphCost) => number | null) => {
    const b = r.before ? pick(r.before) : null;
    const a = r.after ? pick(r.after) : null;
    if (a === null || b === null || b === 0) return '';
    if (a === b) return '0%';
    return `${a <= b ? '-' : '+'}${(Math.abs(1 - a / b) * 100).toFixed(1)}%`;
  };
  const shapes = r.inputShapes ? Object.entries(r.inputShapes).map(([n, s]) => `${printable(n)} ${s.join('x')}`).join(', ') : 'unknown input shape';
  const counts = grid(
    ['', 'before', 'after', 'change'],
    [
      ['parameters', cell(r.before, (c) => c.parameters), cell(r.after, (c) => c.parameters), change((c) => c.parameters)],
      [`MACs (${shapes})`, cell(r.before, (c) => c.macs), cell(r.after, (c) => c.macs), change((c) => c.macs)],
    ],
    'lrrr',
  );
  const ops = [...new Set([...Object.keys(r.before?.ops ?? {}), ...Object.keys(r.after?.ops ?? {})])].sort();
  const total = (h: Readonly<Record<string, number>> | undefined) => (h ? String(Object.values(h).reduce((a, b) => a + b, 0)) : '?');
  const opRows = ops.map((op) => [printable(op), r.before ? String(r.before.ops[op] ?? 0) : '?', r.after ? String(r.after.ops[op] ?? 0) : '?']);
  opRows.push(['total', total(r.before?.ops), total(r.after?.ops)]);
  const note = r.checkpoint ? '\n(counted on the ONNX graphs built from the weights)' : '';
  return `${counts}${note}\n\n${grid(['op', 'before', 'after'], opRows, 'lrr')}`;
}

/** A text table; `align` has one letter per column, l or r (text columns read better left-aligned). */
function grid(header: readonly string[], rows: readonly (readonly string[])[], align: string): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (align[i] === 'r' ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
