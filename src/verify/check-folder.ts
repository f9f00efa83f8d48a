// The graphs the check loads, put where onnxruntime can take their weights straight from the files they
// already sit in. A graph goes into a folder beside the output (same file system as the staged file),
// and each weight that is a plain byte range of a file becomes an external-data reference into a hard
// link of that file inside the folder: onnxruntime reads external data only from inside the model's
// folder, resolving symlinks, so a symlink would not do. The graph file is a few KB; no weight is
// written or parsed twice, and the checked bytes are the very bytes of the staged output.
//
// A file that cannot be linked (another file system, not ours to link) keeps its weights in the graph
// file, as before. The folder is a staged path of this process: a signal removes it, and files written
// inside it never count as outputs.
import * as fs from 'fs';
import * as path from 'path';
import { Initializer } from '../ir/graph';
import { scratchFolder, stagingStem, trackStaged, writeFailure } from '../formats/atomic-file';
import { externalTensorProto, INLINE_BELOW } from '../formats/onnx/external-data';
import { OnnxModel, readOnnx } from '../formats/onnx/read';
import { encodeModel, streamParts, writeOnnx } from '../formats/onnx/write';
import { FileSink } from '../formats/sink';
import { stagingName } from '../formats/stale-staging';
import { byteLength } from '../tensor';

/** How one graph was put: which weights are references into files, and how many bytes were written inline. */
export interface PutGraph {
  readonly path: string;
  /** Weight bytes read from their files by onnxruntime (hard links in the folder). */
  readonly referencedBytes: number;
  /** Weight bytes written into the graph file (or its own data file). */
  readonly inlineBytes: number;
  /** Files whose weights could not be linked, with the reason. */
  readonly unlinked: readonly { readonly file: string; readonly reason: string }[];
}

export interface CheckFolderOptions {
  /** Makes a hard link (tests stand in their own). */
  readonly link?: (existing: string, link: string) => void;
}

export class CheckFolder {
  private readonly release: () => void;
  private readonly links = new Map<string, string | { reason: string }>();

  private constructor(readonly dir: string, private readonly options: CheckFolderOptions) {
    this.release = trackStaged(dir);
  }

  /** A new folder beside `near` (the output a conversion stages): the staged file can always be linked. */
  static beside(near: string, options: CheckFolderOptions = {}): CheckFolder {
    const dir = path.join(path.dirname(path.resolve(near)), stagingName(stagingStem(near), 'check'));
    try {
      fs.mkdirSync(dir, { mode: 0o700 });
    } catch (e) {
      throw writeFailure(e, near);
    }
    return new CheckFolder(dir, options);
  }

  /**
   * A new folder in the system's temporary directory, for a check that writes nothing beside the user's
   * files (`verify`): files on the same file system are linked, others have their weights written here.
   */
  static inTemp(options: CheckFolderOptions = {}): CheckFolder {
    return new CheckFolder(scratchFolder().dir, options);
  }

  /**
   * A graph for `file` that onnxruntime loads with its weights taken from where they sit: the graph
   * written in the folder when every file its weights come from can be linked, else `file` itself
   * (loaded as it is, nothing written).
   */
  graphFor(name: string, file: string): string {
    const m = readOnnx(file);
    try {
      if (!this.canReference(m)) return file;
      return this.put(name, m).path;
    } finally {
      m.close();
    }
  }

  /** Whether every file the model's large weights come from can be linked into the folder. */
  canReference(model: OnnxModel): boolean {
    for (const v of model.graph.initializers()) {
      const d = v.initializer!.tensor.data;
      if (d.kind !== 'range' || d.range.length < INLINE_BELOW) continue;
      const at = d.range.source.fileRange?.(d.range.offset, d.range.length);
      if (at && typeof this.linkFor(at.file) !== 'string') return false;
    }
    return true;
  }

  /** Writes `model` as `<name>.onnx` in the folder, its weights referenced where they sit when possible. */
  put(name: string, model: OnnxModel): PutGraph {
    const file = path.join(this.dir, `${name}.onnx`);
    let referencedBytes = 0;
    const unlinked = new Map<string, string>();
    const reference = (_name: string, init: Initializer) => {
      const d = init.tensor.data;
      const length = byteLength(init.tensor);
      if (d.kind !== 'range' || length < INLINE_BELOW || d.range.length !== length) return undefined;
      const at = d.range.source.fileRange?.(d.range.offset, d.range.length);
      if (!at) return undefined;
      const link = this.linkFor(at.file);
      if (typeof link !== 'string') {
        unlinked.set(at.file, link.reason);
        return undefined;
      }
      referencedBytes += length;
      return externalTensorProto(_name, init, { location: link, offset: at.offset, length });
    };
    const msg = encodeModel(model, { initializer: reference });
    // Weights not referenced are written into the graph: past protobuf's limit, into its own data file.
    if (msg.size > 2 ** 31 - 1) {
      const r = writeOnnx(file, model, { direct: false, externalData: true });
      return { path: file, referencedBytes: 0, inlineBytes: r.bytes, unlinked: [...unlinked].map(([f, reason]) => ({ file: f, reason })) };
    }
    const fd = fs.openSync(file, 'wx', 0o600);
    try {
      const sink = new FileSink(fd);
      streamParts(msg, sink);
      sink.flush();
      return { path: file, referencedBytes, inlineBytes: sink.written, unlinked: [...unlinked].map(([f, reason]) => ({ file: f, reason })) };
    } catch (e) {
      throw writeFailure(e, file);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** The name of a hard link to `file` inside the folder, or why there can be none. */
  private linkFor(file: string): string | { reason: string } {
    const known = this.links.get(file);
    if (known) return known;
    const name = `w${this.links.size}.bin`;
    let result: string | { reason: string };
    try {
      (this.options.link ?? fs.linkSync)(file, path.join(this.dir, name));
      result = name;
    } catch (e) {
      // EXDEV: another file system; EPERM: not ours to link (protected_hardlinks); and the like.
      result = { reason: (e as NodeJS.ErrnoException).code ?? String(e) };
    }
    this.links.set(file, result);
    return result;
  }

  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
    this.release();
  }
}
