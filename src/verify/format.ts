// A short human-readable rendering of a VerifyReport, one line per output, for terminals and logs. Names
// from the models (outputs, nodes, values) and the problems quoting them are escaped as they are put in.
import { printable } from '../formats/printable';
import type { ElementAt } from './compare';
import type { OutputReport, VerifyReport } from './report';

export function formatReport(report: VerifyReport): string {
  const lines: string[] = [];
  const device = report.device.name !== 'unknown' ? ` (${printable(report.device.name)}${report.device.software ? ', software' : ''})` : '';
  const verdict = report.ok ? 'PASSED' : 'FAILED';
  const fp16 = report.precision === 'fp16' ? `, fp16 candidate (${SOURCE[report.precisionSource]})` : '';
  lines.push(
    `${verdict}: ${printable(report.candidate, 1000)} on ${report.ep}${device} vs ${printable(report.reference, 1000)} on cpu; ` +
      `${report.samples} sample${report.samples === 1 ? '' : 's'}${inputsFrom(report)}, atol ${report.atol}, rtol ${report.rtol}${fp16}`,
  );
  for (const n of report.inputNotes ?? []) lines.push(`  note: ${printable(n, 2000)}`);
  if (report.epReason.startsWith('auto:')) lines.push(`  on ${report.ep} by default: ${report.epReason.replace(/^auto: /, '')}`);
  if (report.blockwise) lines.push(...formatBlockwise(report));
  else {
    for (const [name, out] of Object.entries(report.outputs)) lines.push(...formatOutput(name, out));
    if (report.blocks) lines.push(...formatBlocks(report));
  }
  for (const p of report.problems) lines.push(`  problem: ${printable(p, 2000)}`);
  const saved = [report.saved?.inputs && `inputs to ${printable(report.saved.inputs)}`, report.saved?.results && `outputs to ${printable(report.saved.results)}`].filter(Boolean);
  if (saved.length > 0) lines.push(`  saved ${saved.join(', ')}`);
  if (report.saved?.skipped) lines.push(`  not saved (no numpy dtype): ${report.saved.skipped.map((n) => printable(n)).join(', ')}`);
  return lines.join('\n');
}

function inputsFrom(report: VerifyReport): string {
  if (report.inputsFrom === 'random') return `, seed ${report.seed}`;
  const files = report.inputsFrom.map((f) => printable(f));
  return ` from ${files.length <= 3 ? files.join(', ') : `${files.slice(0, 2).join(', ')} and ${files.length - 2} more files`}`;
}

/** A check block by block: a summary line, and each block that failed. */
function formatBlockwise(r: VerifyReport): string[] {
  const outs = Object.entries(r.outputs);
  const worst = Math.max(0, ...outs.map(([, o]) => o.maxAbsError ?? 0));
  const failed = outs.filter(([, o]) => !o.ok);
  const lines = [`  ${outs.length} blocks checked one by one from the weights (each block's branches against its merged conv): ${failed.length ? `${failed.length} FAIL` : 'all ok'}, max abs ${num(worst)}`];
  for (const [name, o] of failed) lines.push(...formatOutput(name, o));
  return lines;
}

/** Where inside the models the first difference is, or that the compared block ends all match. */
function formatBlocks(r: VerifyReport): string[] {
  const blocks = r.blocks!;
  const first = r.firstDifference;
  if (!first) return [`  inside the models: all ${blocks.length} block ends compared match${r.ok ? '' : '; the difference arises after the last of them'}`];
  const before = blocks.indexOf(first);
  return [
    `  first difference inside the models: at ${printable(first.node)} (${printable(first.opType)}, value "${printable(first.value)}"), block end ${before + 1} of ${blocks.length}: ` +
      `max abs ${num(first.maxAbsError)}, max rel ${num(first.maxRelError)}, failing ${first.failingElements}/${first.elements}` +
      (before > 0 ? `; the ${before} before it match` : ''),
  ];
}

const SOURCE = { option: 'as given', 'inputs-outputs': 'float16 inputs/outputs', weights: 'float16 weights', default: 'default' } as const;

function formatOutput(name: string, o: OutputReport): string[] {
  const cand = o.candidateDtype ? ` (candidate ${o.candidateDtype})` : '';
  const head = `  ${o.ok ? 'ok  ' : 'FAIL'} "${printable(name)}" ${o.dtype}[${o.shape.join(', ')}]${cand}`;
  if (o.problem !== undefined || o.elements === null) return [`${head}: ${printable(o.problem ?? 'not compared', 2000)}`];
  const parts = [
    `max abs ${num(o.maxAbsError)}`,
    `max rel ${num(o.maxRelError)}`,
    `mean abs ${num(o.meanAbsError)}`,
    `median abs ${num(o.medianAbsError)}`,
    `cosine ${o.cosineSimilarity?.toFixed(7)}`,
  ];
  if (o.top1Agreement != null && o.top1Rows != null) {
    parts.push(`top-1 ${(100 * o.top1Agreement).toFixed(1)}% of ${o.top1Rows}`);
  }
  parts.push(`failing ${o.failingElements}/${o.elements}`);
  const lines = [`${head}: ${parts.join(', ')}`];
  const nan = o.nanCount;
  if (nan && (nan.reference > 0 || nan.candidate > 0)) lines.push(`      NaN: reference ${nan.reference}, candidate ${nan.candidate}`);
  const x = o.fp32Exceed;
  if (x) {
    const by = x.count > 0 ? `, up to ${num(x.maxAbsError)} abs, ${num(x.maxRelError)} rel (${x.maxAllowances.toPrecision(3)}x the allowance)` : '';
    lines.push(`      beyond the FP32 tolerances (atol ${x.atol}, rtol ${x.rtol}): ${x.count}/${o.elements}${by}`);
  }
  if (o.firstFailure) lines.push(`      first failure ${at(o.firstFailure)}`);
  if (!o.ok && o.worst) lines.push(`      largest error ${at(o.worst)}`);
  return lines;
}

function at(e: ElementAt): string {
  return `sample ${e.sample} index ${e.index}: reference ${e.reference}, candidate ${e.candidate}`;
}

function num(x: number | null): string {
  return x === null ? '-' : x === 0 ? '0' : x.toExponential(2);
}
