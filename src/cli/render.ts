// Human-readable reports, for stderr.
import type { ConvertResult } from '../api/convert';
import { formatCheckpointReport } from '../checkpoint/report';
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
  const rows = ops.map((op) => [op, String(r.opsBefore[op] ?? 0), String(r.opsAfter[op] ?? 0)]);
  const total = (h: Readonly<Record<string, number>>) => String(Object.values(h).reduce((a, b) => a + b, 0));
  rows.push(['total', total(r.opsBefore), total(r.opsAfter)]);
  return table(['op', 'before', 'after'], rows);
}

export function renderMerges(r: ReparamReport, verbose: boolean): string {
  const kinds = Object.entries(r.merged);
  const lines = [kinds.length ? `merged: ${kinds.map(([k, n]) => `${n} × ${k}`).join(', ')}` : 'merged: nothing (no mergeable branches found)'];
  if (r.refusals.length) {
    lines.push(`left unmerged: ${r.refusals.length} site${r.refusals.length === 1 ? '' : 's'}${verbose ? '' : ' (--verbose says why)'}`);
    if (verbose) for (const f of r.refusals) lines.push(`  ${f.rule} at ${f.where}: ${f.reason}`);
  }
  // Warnings were printed as they happened (progress events); the JSON report carries them too.
  return lines.join('\n');
}

export function renderConvert(res: ConvertResult, verbose: boolean): string {
  const parts: string[] = [];
  if (res.reparam) parts.push(renderOps(res.reparam), renderMerges(res.reparam, verbose));
  if (res.checkpoint) parts.push(formatCheckpointReport(res.checkpoint));
  if (res.architecture) parts.push(`architecture: ${res.architecture.name ?? 'custom'} (${res.architecture.blocks.length} blocks)`);
  if (res.fp16) parts.push(`fp16: ${res.fp16.initializers} initializers and ${res.fp16.constants} constants to float16, ${res.fp16.casts} casts; inputs/outputs ${res.fp16.io}`);
  if (res.trt) parts.push(renderTrt(res.trt));
  if (res.verifyFp32) parts.push(`float32 deploy graph, before the cast:\n${renderVerify(res.verifyFp32)}`);
  if (res.verify) parts.push(renderVerify(res.verify));
  else parts.push(`verify: skipped (${res.verifySkipped ?? '--no-verify'})`);
  const t = res.timings;
  if (res.written === false) {
    parts.push(`not written: ${res.output} (the check failed)`);
    return parts.join('\n\n');
  }
  parts.push(`wrote ${res.output} (${formatBytes(res.bytesWritten)}) in ${seconds(t.totalMs)} (read ${seconds(t.readMs)}, merge ${seconds(t.mergeMs)}, write ${seconds(t.writeMs)}${res.verify ? `, verify ${seconds(t.verifyMs)}` : ''})`);
  return parts.join('\n\n');
}

export function renderTrt(t: NonNullable<ConvertResult['trt']>): string {
  const f = t.friendly;
  const lines = [`TensorRT-ready ONNX: ${t.onnx} (opset ${f.opset}${f.relabelledFrom ? `, relabelled from ${f.relabelledFrom}` : ''}; inputs ${f.inputs.map((i) => `${i.name} ${i.shape.join('x')}`).join(', ')}${f.profile ? ', dynamic batch' : ', static shapes'})`];
  if (f.profile) lines.push(`  shapes for trtexec: --minShapes=${f.profile.min} --optShapes=${f.profile.opt} --maxShapes=${f.profile.max}`);
  lines.push(t.built ? `built ${t.engine} with: ${t.command}` : `NO PLAN WAS BUILT (trtexec is not on PATH). To build ${t.engine}, run where TensorRT is installed:\n  ${t.command}`);
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
