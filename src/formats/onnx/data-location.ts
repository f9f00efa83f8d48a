// Where an ONNX tensor's external data may come from: a regular file inside the model's folder, as the
// folder really is. The location is checked as text ('..', absolute paths), then as the file system
// resolves it (a symbolic link, or a location through a linked subfolder, that ends outside the folder
// is refused), then as the file opened: a named pipe, a device or a folder is refused without waiting on
// it, and on Linux the descriptor's own path is checked again, so a swap after the first check is seen.
import * as fs from 'fs';
import * as path from 'path';
import { DecodeError, FormatError, UserError } from '../../errors';
import { FileSource, openRegularFile } from '../bytes';
import { printable } from '../printable';
import { Field, last, ProtoReader, Wire } from '../protobuf/reader';
import { AttrField, EntryField, GraphField, ModelField, NodeField, TensorField } from './fields';

const HINT = 'keep the data files next to the .onnx file, under the names the model records';

/** The model's folder as the file system has it (symbolic links resolved), once per model. */
export function realFolder(baseDir: string): string {
  try {
    return fs.realpathSync(baseDir || '.');
  } catch (e) {
    throw new UserError(`the model's folder ${printable(baseDir)} cannot be resolved (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { code: 'BAD_USAGE' });
  }
}

/** A location that is a plain relative path, as onnx's own loader requires. */
function checkLocationText(location: string, label: string): void {
  const bad = (why: string) => new UserError(`${label}: external data location "${printable(location)}" ${why}; refusing to read it`);
  if (location === '') throw bad('is empty');
  if (location.includes('\0')) throw bad('holds a NUL character');
  if (path.isAbsolute(location) || path.win32.isAbsolute(location) || /^[A-Za-z]:/.test(location)) throw bad("points outside the model's folder");
  if (location.split(/[\\/]/).includes('..')) throw bad("points outside the model's folder");
}

function inside(folder: string, p: string): boolean {
  const prefix = folder.endsWith(path.sep) ? folder : folder + path.sep;
  return p === folder || p.startsWith(prefix);
}

/** Opens external data `location` of a model whose real folder is `folder`; refuses what is not a regular file inside it. */
export function openDataFile(folder: string, location: string, label: string): FileSource {
  checkLocationText(location, label);
  const full = path.join(folder, location);
  const what = `external data file ${printable(location)}`;
  let real: string;
  try {
    real = fs.realpathSync(full);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`${label}: ${what} ${code === 'ENOENT' ? 'does not exist' : `cannot be opened (${code ?? (e as Error).message})`} in ${printable(folder)}`, { hint: HINT, cause: e });
  }
  const outside = () =>
    new UserError(`${label}: external data location "${printable(location)}" resolves, through a symbolic link, to a file outside the model's folder; refusing to read it`, {
      hint: "copy the data file into the model's folder instead of linking to it",
    });
  if (!inside(folder, real)) throw outside();
  const opened = openRegularFile(real, `${label}: ${what}`, HINT);
  if (process.platform === 'linux') {
    let now: string | undefined;
    try {
      now = fs.readlinkSync(`/proc/self/fd/${opened.fd}`);
    } catch {
      now = undefined; // no /proc: the checks above stand alone
    }
    if (now !== undefined && !inside(folder, now)) {
      fs.closeSync(opened.fd);
      throw outside();
    }
  }
  return new FileSource(real, opened);
}

/** `offset` and `length` as onnx writes them: decimal digits only ("0x10", " 16" and "1.6e1" are not). */
export function externalNumber(text: string | undefined): number | undefined {
  if (text === undefined || !/^[0-9]{1,16}$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

// ---- every external data location a model file names, for models handed to onnxruntime as they are ----

const MAX_NESTING = 32;
/** FunctionProto.node and TrainingInfoProto's graphs (onnx.proto). */
const FUNCTION_NODE = 7;
const TRAINING_GRAPHS = [1, 2];
const SPARSE_PARTS = [1, 2];
const ATTR_SPARSE = [22, 23];

/**
 * Checks every external data location in an ONNX file (initializers, sparse initializers, tensors in
 * node attributes, subgraphs, functions) the way the reader does, without reading any data. Run before
 * onnxruntime loads a model, which follows locations by itself.
 */
export function checkExternalDataFiles(file: string): void {
  const source = new FileSource(file);
  let folder: string | undefined;
  const r = new ProtoReader(source);
  const tensor = (start: number, end: number, at: number) => {
    const fs_ = r.fields(start, end);
    const loc = last(fs_, TensorField.dataLocation);
    if (!loc || loc.value !== 1n) return;
    const name = last(fs_, TensorField.name);
    const label = name ? printable(r.string(name)) : `tensor at byte ${at}`;
    const location = fs_.filter((f) => f.no === TensorField.externalData).map((f) => r.fields(f.valueStart, f.end)).find((kv) => {
      const k = last(kv, EntryField.key);
      return k && r.string(k) === 'location';
    });
    const v = location && last(location, EntryField.value);
    if (!v) throw new DecodeError(`${label}: external data without a location`, at);
    folder ??= realFolder(path.dirname(file));
    openDataFile(folder, r.string(v), label).close();
  };
  // Only length-delimited fields are messages; anything else under a message's number is left to onnxruntime.
  const messages = (start: number, end: number, numbers: readonly number[]): Field[] => r.fields(start, end).filter((f) => f.wire === Wire.Bytes && numbers.includes(f.no));
  const nodes = (fields: readonly Field[], depth: number) => {
    for (const n of fields) {
      for (const a of messages(n.valueStart, n.end, [NodeField.attribute])) {
        for (const x of messages(a.valueStart, a.end, [AttrField.t, AttrField.tensors, AttrField.g, AttrField.graphs, ...ATTR_SPARSE])) {
          if (x.no === AttrField.t || x.no === AttrField.tensors) tensor(x.valueStart, x.end, x.start);
          else if (x.no === AttrField.g || x.no === AttrField.graphs) graph(x, depth + 1);
          else sparse(x);
        }
      }
    }
  };
  const sparse = (s: Field) => {
    for (const p of messages(s.valueStart, s.end, SPARSE_PARTS)) tensor(p.valueStart, p.end, p.start);
  };
  const graph = (g: Field, depth: number): void => {
    if (depth > MAX_NESTING) throw new DecodeError('subgraphs nested too deeply', g.start);
    const fields = messages(g.valueStart, g.end, [GraphField.initializer, GraphField.sparseInitializer, GraphField.node]);
    for (const f of fields) {
      if (f.no === GraphField.initializer) tensor(f.valueStart, f.end, f.start);
      else if (f.no === GraphField.sparseInitializer) sparse(f);
    }
    nodes(fields.filter((f) => f.no === GraphField.node), depth);
  };
  try {
    for (const f of messages(0, source.length, [ModelField.graph, ModelField.functions, ModelField.trainingInfo])) {
      if (f.no === ModelField.graph) graph(f, 0);
      else if (f.no === ModelField.functions) nodes(messages(f.valueStart, f.end, [FUNCTION_NODE]), 0);
      else for (const g of messages(f.valueStart, f.end, TRAINING_GRAPHS)) graph(g, 0);
    }
  } catch (e) {
    if (e instanceof DecodeError) throw new FormatError(file, 'an ONNX model', e.message, { offset: e.offset });
    throw e;
  } finally {
    source.close();
  }
}
