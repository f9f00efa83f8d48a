// Human-readable reports (stdout), one function per report.
import type { ConvertResult } from '../api/convert';
import type { CheckpointReport } from '../checkpoint/report';
import { printable } from '../formats/printable';
import { NEAR, type Fp16Headroom } from '../api/fp16-headroom';
import type { ReparamReport } from '../rules/pipeline';
import { formatReport } from '../verify/format';
import type { VerifyReport } from '../verify/report';

export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function renderOps(r: ReparamReport): string {
  const ops = [...new Set([...Object.keys(r.opsBefore), ...Object.keys(r.opsAfter)])].sort();
  const rows = ops.map((op) => [printable(op), String(r.opsBefore[op] ?? 0), String(r.opsAfter[op] ?? 0)]);
  const total = (h: Readonly<Record<string, number>>) => String(Object.values(h).reduce((a, b) => a + b, 0));
  rows.push(['total', total(r.opsBefore), total(r.opsAfter)]);
  return table(['op', 'before', 'after'], rows);
}

export function renderMerges(r: ReparamReport, verbose: boolean): string {
  const kinds = Object.entries(r.merged);
  const lines = [kinds.length ? `merged: ${kinds.map(([k, n]) => `${n} × ${k}`).join(', ')}` : 'merged: nothing (no mergeable branches found)'];
  if (r.refusals.length) {
    lines.push(`left unmerged: ${r.refusals.length} site${r.refusals.length === 1 ? '' : 's'}${verbose ? '' : ' (--verbose says why)'}`);
    if (verbose) for (const f of r.refusals) lines.push(`  ${f.rule} at ${printable(f.where, 240)}: ${printable(f.reason, 2000)}`);
  }
  // Warnings were printed as they happened (progress events); the JSON report carries them too.
  return lines.join('\n');
}

export function renderConvert(res: ConvertResult, verbose: boolean): string {
  const parts: string[] = [];
  if (res.reparam) parts.push(renderOps(res.reparam), renderMerges(res.reparam, verbose));
  if (res.checkpoint) parts.push(renderCheckpoint(res.checkpoint, verbose));
  if (res.architecture) parts.push(`architecture: ${res.architecture.name ?? 'custom'} (${res.architecture.blocks.length} blocks)`);
  if (res.fp16) parts.push(`fp16: ${res.fp16.initializers} initializers and ${res.fp16.constants} constants to float16, ${res.fp16.casts} casts; inputs/outputs ${res.fp16.io}`);
  if (res.trt) parts.push(renderTrt(res.trt));
  if (res.verifyFp32) parts.push(`float32 deploy graph, before the cast:\n${renderVerify(res.verifyFp32)}`);
  if (res.fp16Headroom) parts.push(renderHeadroom(res.fp16Headroom, verbose));
  if (res.verify) parts.push(renderVerify(res.verify));
  else parts.push(`verify: skipped (${res.verifySkipped ?? '--no-verify'})`);
  const t = res.timings;
  if (res.written === false) {
    parts.push(`not written: ${printable(res.output, 1000)} (the check failed)`);
    return parts.join('\n\n');
  }
  parts.push(`wrote ${printable(res.output, 1000)} (${formatBytes(res.bytesWritten)}) in ${seconds(t.totalMs)} (read ${seconds(t.readMs)}, merge ${seconds(t.mergeMs)}, write ${seconds(t.writeMs)}${res.verify ? `, verify ${seconds(t.verifyMs)}` : ''})`);
  return parts.join('\n\n');
}

/** A summary: blocks merged by kind, keys passed through and dropped; with --verbose, a line per block. */
export function renderCheckpoint(r: CheckpointReport, verbose: boolean): string {
  const lines = [`scheme: ${r.scheme} (${r.schemeFrom}), form: ${r.form}, BN eps ${r.bnEps}`];
  const kinds = new Map<string, number>();
  // Grouped by the block model's kind namer ('RepVGG 3-branch', 'k-branch', 'DBB', …).
  for (const b of r.blocks) kinds.set(b.kind ?? b.summary, (kinds.get(b.kind ?? b.summary) ?? 0) + 1);
  const byKind = [...kinds].map(([k, n]) => `${n} × ${printable(k)}`).join(', ');
  lines.push(r.blocks.length ? `merged ${r.blocks.length} block${r.blocks.length === 1 ? '' : 's'}: ${byKind}` : 'merged: nothing (no block with branches found)');
  if (verbose) {
    for (const b of r.blocks) {
      const groups = b.groups === null ? `in/groups ${b.inPerGroup}` : `groups ${b.groups}`;
      lines.push(`  ${printable(b.name) || '(root)'}: ${printable(b.kind ?? 'block')} (${printable(b.summary)}) → ${printable(b.deploy?.weight ?? '')}  [out ${b.outChannels}, ${groups}${b.se ? ', SE' : ''}]`);
    }
  }
  if (r.deployBlocks.length) lines.push(`already single convs: ${r.deployBlocks.length}${verbose ? ` (${r.deployBlocks.map((b) => printable(b)).join(', ')})` : ''}`);
  lines.push(`tensors: ${r.tensorsIn} in, ${r.tensorsOut} out; ${r.passedThrough} key${r.passedThrough === 1 ? '' : 's'} passed through unchanged, ${r.dropped.length} dropped`);
  const reasons = new Map<string, number>();
  for (const d of r.dropped) reasons.set(d.reason, (reasons.get(d.reason) ?? 0) + 1);
  for (const [reason, n] of reasons) lines.push(`  dropped ${n} key${n === 1 ? '' : 's'}: ${printable(reason, 2000)}`);
  if (!verbose && r.blocks.length) lines.push('  (--verbose lists every block)');
  return lines.join('\n');
}

/** Each block's largest activation against float16's largest value, and the trtexec flags for what must stay float32. */
export function renderHeadroom(h: Fp16Headroom, verbose: boolean): string {
  if (h.blocks.length === 0) return 'float16 headroom: no block end to measure';
  const top = [...h.blocks].sort((a, b) => b.maxAbs - a.maxAbs);
  const lines = [`float16 headroom (largest |activation| at each block end on the check's inputs, against ${h.limit}): the largest is ${top[0].maxAbs.toPrecision(4)} at ${printable(top[0].node)} (${fmtTimes(top[0].headroom)} below the limit)`];
  if (h.mustStayFp32.length) lines.push(`  ${h.mustStayFp32.length} block${h.mustStayFp32.length === 1 ? '' : 's'} overflow float16 and must stay float32; for trtexec: ${h.trtexecFlags}`);
  if (h.near.length) lines.push(`  within ${NEAR}x of the limit: ${h.near.map((n) => printable(n)).join(', ')}`);
  if (verbose) for (const b of h.blocks) lines.push(`  ${printable(b.node)}: ${b.maxAbs.toPrecision(4)} (${fmtTimes(b.headroom)})`);
  return lines.join('\n');
}

const fmtTimes = (x: number) => (Number.isFinite(x) ? `${x < 10 ? x.toFixed(2) : x.toFixed(0)}x` : 'no activation');

export function renderTrt(t: NonNullable<ConvertResult['trt']>): string {
  const f = t.friendly;
  const lines = [`TensorRT-ready ONNX: ${printable(t.onnx, 1000)} (opset ${f.opset}${f.relabelledFrom ? `, relabelled from ${f.relabelledFrom}` : ''}; inputs ${f.inputs.map((i) => `${printable(i.name)} ${i.shape.join('x')}`).join(', ')}${f.profile ? ', dynamic batch' : ', static shapes'})`];
  if (f.profile) lines.push(`  shapes for trtexec: --minShapes=${printable(f.profile.min, 2000)} --optShapes=${printable(f.profile.opt, 2000)} --maxShapes=${printable(f.profile.max, 2000)}`);
  lines.push(t.built ? `built ${printable(t.engine, 1000)} with: ${printable(t.command, 4000)}` : `NO PLAN WAS BUILT (trtexec is not on PATH). To build ${printable(t.engine, 1000)}, run where TensorRT is installed:\n  ${printable(t.command, 4000)}`);
  return lines.join('\n');
}

export function renderVerify(v: VerifyReport): string {
  return formatReport(v);
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

export const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
