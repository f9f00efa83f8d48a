// Outputs are written to a temporary file beside the target, synced, then renamed over it, so a failed
// or interrupted run leaves no partial file and an existing output stays as it was until the end.
// `stageFile` splits the two steps so a conversion can verify the staged file before it commits.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { UserError } from '../errors';
import { kindOf } from './bytes';
import { printable } from './printable';
import { FileSink } from './sink';
import { scratchPrefix, stagingName } from './stale-staging';

export interface StagedFile<T> {
  /** The temporary file, complete (and synced once `synced` resolves). */
  readonly tmp: string;
  readonly target: string;
  readonly result: T;
  /**
   * Resolves once the file is on the disk. With `syncLater`, the sync runs on libuv's thread pool while
   * the caller reads the file back (the check), and commit must wait for it; otherwise it already is.
   */
  readonly synced?: Promise<void>;
  commit(): void;
  abort(): void;
}

const staged = new Set<string>();

const committed: string[] = [];

/** Outputs this process has put in place, in order (for signal handlers: a signal handled late must not deny them). */
export function committedFiles(): readonly string[] {
  return committed;
}

/** Records an output put in place by a rename made elsewhere. */
export function noteCommitted(target: string): void {
  committed.push(target);
}

/** Removes staged files (and staging folders) of this process (for signal handlers). */
export function removeStagedFiles(): void {
  for (const f of staged) fs.rmSync(f, { force: true, recursive: true });
  staged.clear();
}

/**
 * A private folder in the system's temporary directory for files this run writes, reads back and
 * discards (graphs built to check a checkpoint, the float32 graph checked before an FP16 cast). It goes
 * with the staged files on a signal; files put in place inside it are never counted as outputs.
 */
export function scratchFolder(): { readonly dir: string; remove(): void } {
  let dir: string;
  try {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), scratchPrefix()));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      const what = code === 'ENOENT' ? 'does not exist' : 'is not a folder';
      throw new UserError(`the temporary folder ${printable(os.tmpdir())} ${what}, and the check needs scratch space there`, { code: 'CANNOT_WRITE', hint: 'point TMPDIR at an existing folder you may write to', cause: e });
    }
    throw writeFailure(e, `a scratch folder in ${os.tmpdir()}`);
  }
  staged.add(dir);
  return {
    dir,
    remove() {
      fs.rmSync(dir, { recursive: true, force: true });
      staged.delete(dir);
    },
  };
}

/** Registers a staging file or folder made elsewhere for removeStagedFiles; returns its release. */
export function trackStaged(p: string): () => void {
  staged.add(p);
  return () => staged.delete(p);
}

export interface StageOptions {
  /**
   * Default true: a large output may go to the disk with direct I/O, past the page cache. False when
   * this run reads the file back (verification, a TensorRT build), so that it reads from memory.
   */
  readonly direct?: boolean;
  /** The name errors give the file, when `target` is a staging path (external data's folder). */
  readonly label?: string;
  /** Bytes written so far (and the total, once the writer announces it): see FileSink. */
  readonly onProgress?: (written: number, total: number | undefined) => void;
  /** Sync in the background (StagedFile.synced), so the disk's flush overlaps what the caller does next. */
  readonly syncLater?: boolean;
}

/**
 * Refuses an output path that a rename cannot safely replace: a missing folder, a directory, or anything
 * but a regular file (a device such as /dev/null, a FIFO, a socket; also through a symlink). Renaming
 * over a device node would replace it with a regular file; a device is never written through.
 */
export function checkOutputPath(target: string): void {
  const dir = path.dirname(path.resolve(target));
  if (!fs.existsSync(dir)) throw new UserError(`cannot write ${target}: folder ${dir} does not exist`, { code: 'BAD_USAGE', hint: 'create the folder first' });
  let st: fs.Stats;
  try {
    st = fs.statSync(target);
  } catch (e) {
    // Nothing there yet (or a dangling link, which the rename replaces): the usual case.
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new UserError(`cannot write ${target}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { code: 'BAD_USAGE' });
  }
  if (st.isDirectory()) throw new UserError(`cannot write ${target}: it is a directory`, { code: 'BAD_USAGE', hint: 'name a file inside it' });
  if (!st.isFile()) {
    throw new UserError(`cannot write ${target}: it is ${kindOf(st)}, not a regular file; outputs are written beside their path and renamed over it`, {
      code: 'BAD_USAGE',
      hint: 'name a regular file; to check a conversion without keeping it, write into a temporary folder',
    });
  }
}

/**
 * The output replaces a file by rename, so it is a new file: it takes the old one's permissions (a
 * private 0600 model stays private), and, when run as root, its owner.
 */
function keepAccess(fd: number, target: string): void {
  let prior: fs.Stats;
  try {
    prior = fs.statSync(target);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // a new output keeps the default mode
    throw e;
  }
  if (!prior.isFile()) return;
  fs.fchmodSync(fd, prior.mode & 0o7777);
  if (process.getuid?.() === 0) fs.fchownSync(fd, prior.uid, prior.gid);
}

/**
 * The output's name as staging names begin: cut to 200 bytes, so that with the suffix they still fit
 * the 255 bytes a file name may have (an output named near that limit is legal; its staging file must
 * be too).
 */
export function stagingStem(target: string): string {
  const base = path.basename(target);
  const bytes = Buffer.from(base);
  if (bytes.length <= 200) return base;
  // Cut at a character boundary: drop UTF-8 continuation bytes (10xxxxxx) at the cut.
  let end = 200;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString();
}

/** What the machine, not the input, keeps an output from being written: said as such, not as a bug. */
const WRITE_FAILURES: Readonly<Record<string, readonly [string, string]>> = {
  ENOSPC: ['no space is left on the device', 'free some space, or write to another disk'],
  EDQUOT: ['the disk quota is used up', 'free some space, or write to another disk'],
  EACCES: ['permission denied', 'write into a folder you may write to'],
  EPERM: ['the operation is not permitted', 'write into a folder you may write to'],
  EROFS: ['the file system is read-only', 'write to another folder'],
  EFBIG: ['the file is too large for this file system', 'write to another file system; --external-data keeps an ONNX model small'],
  EIO: ['the disk reported an I/O error', 'check the disk, then run again'],
  ENAMETOOLONG: ['the name is too long for the file system', 'use a shorter file name'],
};

/** A write error with one of the codes above as a UserError (CANNOT_WRITE, exit 2); anything else as it is. */
export function writeFailure(e: unknown, target: string): unknown {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const known = code === undefined ? undefined : WRITE_FAILURES[code];
  if (!known) return e;
  return new UserError(`cannot write ${target}: ${known[0]} (${code})`, { code: 'CANNOT_WRITE', hint: known[1], cause: e });
}

export function stageFile<T>(target: string, write: (sink: FileSink) => T, options: StageOptions = {}): StagedFile<T> {
  checkOutputPath(target);
  const dir = path.dirname(path.resolve(target));
  const tmp = path.join(dir, stagingName(stagingStem(target), 'tmp'));
  // The path the user named (a staged file inside external data's folder has its own).
  const name = options.label ?? target;
  let fd: number;
  try {
    fd = fs.openSync(tmp, 'wx', 0o644);
  } catch (e) {
    throw writeFailure(e, name);
  }
  staged.add(tmp);
  let open = true;
  const sink = new FileSink(fd, { path: tmp, direct: options.direct, onProgress: options.onProgress });
  try {
    const result = write(sink);
    sink.flush();
    keepAccess(fd, name);
    let synced: Promise<void> | undefined;
    let done = true;
    if (options.syncLater) {
      done = false;
      synced = new Promise<void>((resolve, reject) =>
        fs.fsync(fd, (e) => {
          fs.close(fd, () => {});
          if (e) reject(writeFailure(e, name));
          else {
            done = true;
            resolve();
          }
        }),
      );
      synced.catch(() => {}); // awaited before the commit; an abort does not wait for it
    } else {
      fs.fsyncSync(fd);
      fs.closeSync(fd);
    }
    open = false;
    return {
      tmp,
      target,
      result,
      ...(synced ? { synced } : {}),
      commit() {
        if (!done) throw new Error(`${name} was committed before its staged file was synced`);
        try {
          fs.renameSync(tmp, target);
        } catch (e) {
          fs.rmSync(tmp, { force: true });
          staged.delete(tmp);
          throw writeFailure(e, name);
        }
        staged.delete(tmp);
        // A file put in place inside a staging folder (external data) is not an output yet.
        // A file replaced twice in one run (a check that saves its results again) is named once.
        if (!staged.has(dir) && !committed.includes(target)) committed.push(target);
        try {
          syncFolder(dir);
        } catch (e) {
          throw writeFailure(e, name);
        }
      },
      abort() {
        fs.rmSync(tmp, { force: true });
        staged.delete(tmp);
      },
    };
  } catch (e) {
    sink.abandon();
    if (open) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    staged.delete(tmp);
    throw writeFailure(e, name);
  }
}

/**
 * Makes renames in `dir` durable, as the files themselves were synced before them. Windows cannot open a
 * folder; a file system that cannot sync one (EINVAL) leaves the rename to its own schedule.
 */
export function syncFolder(dir: string): void {
  if (process.platform === 'win32') return;
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
  } finally {
    fs.closeSync(fd);
  }
}

export function writeFileAtomic<T>(target: string, write: (sink: FileSink) => T, options: StageOptions = {}): T {
  const s = stageFile(target, write, options);
  s.commit();
  return s.result;
}
