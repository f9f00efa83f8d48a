// What a run stages is named so that a later run can tell it was left by a run that was killed (SIGKILL,
// a power cut: no handler ran) and remove it: `.<output>.<pid>.<host>.<time>.<kind>` beside an output,
// `repvgg-convert-<pid>.<host>.XXXXXX` in the temporary folder. A file of that name is removed only when
// it is ours in every way that can be checked: made on this host, owned by this user, of the kind its
// name says (a file, or a folder), and its process is gone.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/** This host, as staged names carry it ('h' and 8 hex digits of a hash of the host name). */
export const HOST_TAG = `h${fnv1a(os.hostname()).toString(16).padStart(8, '0')}`;

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}

/** What a staged name stands for: a staged output file, a folder of staged files, or a check's folder. */
export type StagingKind = 'tmp' | 'staging' | 'check';

/** The name of something staged for `stem` (the output's name, cut to fit) by this process. */
export function stagingName(stem: string, kind: StagingKind): string {
  return `.${stem}.${process.pid}.${HOST_TAG}.${Date.now().toString(36)}.${kind}`;
}

/** The prefix of this process's scratch folders in the temporary folder (mkdtemp adds six characters). */
export function scratchPrefix(): string {
  return `repvgg-convert-${process.pid}.${HOST_TAG}.`;
}

// Names written before the host was part of them (`.<output>.<pid>.<time>.tmp`) are known too; the
// host tag starts with 'h', so a pid can never be mistaken for it.
const BESIDE = /^\..+\.(\d+)\.(?:(h[0-9a-f]{8})\.)?[0-9a-z]+\.(tmp|staging|check)$/;
const SCRATCH = /^repvgg-convert-(\d+)\.(h[0-9a-f]{8})\.[A-Za-z0-9]{6}$/;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: a process of another user has that pid, alive.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface StaleEntry {
  readonly path: string;
  readonly pid: number;
}

/** Removes what killed runs of this program staged in `dir`; says what it removed. */
export function removeStale(dir: string, where: 'beside' | 'scratch'): StaleEntry[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return []; // a folder that cannot be listed holds nothing we can clean
  }
  const uid = process.getuid?.();
  const removed: StaleEntry[] = [];
  for (const name of names) {
    const m = (where === 'beside' ? BESIDE : SCRATCH).exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    const host = m[2];
    const kind = where === 'beside' ? (m[3] as StagingKind) : 'staging';
    if ((host !== undefined && host !== HOST_TAG) || pid === process.pid || !Number.isSafeInteger(pid) || alive(pid)) continue;
    const p = path.join(dir, name);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      continue;
    }
    if (uid !== undefined && st.uid !== uid) continue;
    if (kind === 'tmp' ? !st.isFile() : !st.isDirectory()) continue;
    try {
      fs.rmSync(p, { recursive: kind !== 'tmp', force: true });
    } catch {
      continue; // not ours to remove after all (permissions): leave it
    }
    removed.push({ path: p, pid });
  }
  return removed;
}

/** Removes stale staged files beside `output` and stale scratch folders; one message each. */
export function removeStaleStaging(outputs: readonly string[]): string[] {
  const folders = new Set(outputs.map((o) => path.dirname(path.resolve(o))));
  const stale = [...[...folders].flatMap((d) => removeStale(d, 'beside')), ...removeStale(os.tmpdir(), 'scratch')];
  return stale.map((s) => `removed ${s.path}, left by a run that was killed (process ${s.pid} is gone)`);
}
