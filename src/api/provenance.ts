// What an output records of how it was made (stamp.ts says where): the tool and its version, the input
// and its SHA-256, and the check: where it ran, its tolerances and the largest error it measured, or why
// there was none. The JSON report carries the same object; `inspect` reads it back from any output.
import * as path from 'path';
import { FORMATS, FormatName, OutputFormat } from '../formats/registry';
import { STAMP_BYTES, fill, parseStamp } from '../formats/stamp';
import type { VerifyReport } from '../verify';
import { packageVersion } from '../version';

export interface Provenance {
  readonly tool: 'repvgg-convert';
  readonly version: string;
  /** The input file's name (not its path). */
  readonly input: string;
  readonly inputSha256: string;
  readonly scheme?: string;
  readonly arch?: string;
  readonly check: CheckRecord | { readonly skipped: string };
}

export interface CheckRecord {
  readonly ok: boolean;
  readonly ep: string;
  readonly device: string;
  readonly samples: number;
  readonly atol: number;
  readonly rtol: number;
  /** Largest over every output compared. */
  readonly maxAbsError: number | null;
  readonly maxRelError: number | null;
}

export function checkRecord(v: VerifyReport): CheckRecord {
  const outputs = Object.values(v.outputs);
  const max = (pick: (o: (typeof outputs)[number]) => number | null) => outputs.reduce<number | null>((m, o) => (pick(o) === null ? m : Math.max(m ?? 0, pick(o)!)), null);
  return { ok: v.ok, ep: v.ep, device: v.device.name, samples: v.samples, atol: v.atol, rtol: v.rtol, maxAbsError: max((o) => o.maxAbsError), maxRelError: max((o) => o.maxRelError) };
}

export function provenance(input: string, sha256: string, check: Provenance['check'], extra: { scheme?: string; arch?: string } = {}): Provenance {
  return { tool: 'repvgg-convert', version: packageVersion(), input: path.basename(input), inputSha256: sha256, ...extra, check };
}

/** The stamp's text: the JSON, with the input's name cut if it would not fit. */
export function provenanceText(p: Provenance): string {
  let text = JSON.stringify(p);
  if (Buffer.byteLength(text) > STAMP_BYTES) text = JSON.stringify({ ...p, input: `${p.input.slice(0, 64)}…` });
  return text;
}

/** Writes the provenance over the placeholder a staged output was written with (a .wts has none: the report carries it). */
export function stampOutput(staged: string, format: OutputFormat, pending: string, p: Provenance): void {
  const at = FORMATS[format === 'trt' ? 'onnx' : format].stamp;
  if (!at) return;
  fill(staged, at.place, pending, provenanceText(p), { escaped: at.escaped });
}

/** What an output says of how it was made; undefined for a file without a stamp (not made by this tool). */
export function readProvenance(file: string, format: FormatName): Provenance | undefined {
  const at = FORMATS[format].stamp;
  return at ? (parseStamp(at.read(file), file) as Provenance | undefined) : undefined;
}
