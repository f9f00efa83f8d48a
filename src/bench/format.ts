// A short human-readable rendering of a BenchReport: a table of latencies and the speedup. Input names
// come from the models and are escaped as they are put in.
import { printable } from '../formats/printable';
import type { BenchReport, LatencyReport } from './report';

export function formatBenchReport(r: BenchReport): string {
  const device = r.device.name !== 'unknown' ? ` (${printable(r.device.name)}${r.device.software ? ', software' : ''})` : '';
  const inputs = Object.entries(r.inputs)
    .map(([name, i]) => `"${printable(name)}" ${i.dtype}[${i.shape.join(', ')}]${i.candidateDtype ? ` (deploy ${i.candidateDtype})` : ''}`)
    .join(', ');
  const lines = [
    `bench on ${r.ep}${device}: ${r.runs} run${r.runs === 1 ? '' : 's'} per model after ${r.warmup} warmup, interleaved; seed ${r.seed}; input ${inputs}`,
  ];
  for (const s of r.skippedEps) lines.push(`  skipped ${s.ep}: ${printable(s.reason, 2000)}`);
  const head = ['', 'p50', 'p90', 'min', 'mean', 'throughput'];
  const row = (label: string, l: LatencyReport) => [label, ms(l.p50Ms), ms(l.p90Ms), ms(l.minMs), ms(l.meanMs), `${rate(l.throughput)}/s`];
  const table = [head, row('train', r.train), row('deploy', r.deploy)];
  const widths = head.map((_, c) => Math.max(...table.map((t) => t[c].length)));
  for (const t of table) lines.push(`  ${t.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ')}`.trimEnd());
  const p = r.pairedSpeedup;
  lines.push(
    `  speedup ${x(r.speedup)} (train p50 / deploy p50); paired runs: p10 ${x(p.p10)}, p90 ${x(p.p90)}, min ${x(p.min)}, max ${x(p.max)}`,
  );
  if (r.device.software) lines.push('  note: a software renderer ran WebGPU here; these timings say nothing about GPUs');
  return lines.join('\n');
}

function ms(v: number): string {
  return `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)} ms`;
}

function rate(v: number): string {
  return v >= 100 ? v.toFixed(0) : v.toPrecision(3);
}

function x(v: number): string {
  return `${v.toFixed(2)}x`;
}
