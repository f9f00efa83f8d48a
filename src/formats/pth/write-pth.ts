// Writes a state dict as torch.save(model.state_dict()) does: a zip archive named after the output file
// holding data.pkl (an OrderedDict of tensors rebuilt by _rebuild_tensor_v2), byteorder, version, and
// one uncompressed 64-byte-aligned storage per tensor, streamed one at a time.
import * as path from 'path';
import { dtypeInfo, numel } from '../../dtype';
import { UserError } from '../../errors';
import { Tensor } from '../../tensor';
import { writeFileAtomic } from '../atomic-file';
import { FileSink } from '../sink';
import { collectEntries, TensorEntries, writeTensorTo } from '../state-dict';
import { PickleWriter } from './pickle-writer';
import { ZipWriter, ZipWriterOptions } from '../zip/writer';
import { STAMP_ENTRY } from '../stamp';

export interface WritePthOptions extends ZipWriterOptions {
  /** Name of the archive's root folder; torch uses the output file's name without its extension. */
  readonly archiveName?: string;
  /** A stamp (stamp.ts), stored as the archive's last entry, .data/repvgg-convert.json, which torch.load does not read. */
  readonly stamp?: string;
}

/** The archive version torch.save has written since 1.6. */
const ARCHIVE_VERSION = '3\n';
/** Python's pickler batches SETITEMS by this many pairs. */
const BATCH = 1000;

export function writePth(file: string, entries: TensorEntries, options: WritePthOptions = {}): void {
  const archiveName = options.archiveName ?? (path.parse(file).name || 'archive');
  writeFileAtomic(file, (sink) => writePthTo(sink, entries, { ...options, archiveName }));
}

/** The .pth archive into a sink (a staged file); the archive root defaults to 'archive'. */
export function writePthTo(sink: FileSink, entries: TensorEntries, options: WritePthOptions = {}): void {
  const list = collectEntries(entries);
  const root = options.archiveName || 'archive';
  if (root.includes('/') || root.includes('\\')) throw new UserError(`archive name '${root}' may not contain a slash`, { code: 'BAD_USAGE' });
  const pkl = statePickle(list);
  sink.expect(sink.written + list.reduce((n, [, t]) => n + numel(t.shape) * dtypeInfo(t.dtype).size, 0));
  const zip = new ZipWriter(sink, options);
  zip.addBytes(`${root}/data.pkl`, pkl);
  zip.addBytes(`${root}/byteorder`, Buffer.from('little'));
  list.forEach(([, t], i) => zip.add(`${root}/data/${i}`, numel(t.shape) * dtypeInfo(t.dtype).size, (out) => writeTensorTo(out, t)));
  zip.addBytes(`${root}/version`, Buffer.from(ARCHIVE_VERSION));
  if (options.stamp !== undefined) zip.addBytes(`${root}/${STAMP_ENTRY}`, Buffer.from(options.stamp));
  zip.finish();
}

/** C-order strides the way torch computes them (a dim of size 0 counts as 1). */
export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = s;
    s *= Math.max(shape[d], 1);
  }
  return strides;
}

/** data.pkl: OrderedDict([(name, _rebuild_tensor_v2(storage i, 0, shape, strides, False, OrderedDict())), ...]). */
export function statePickle(list: ReadonlyArray<readonly [string, Tensor]>): Uint8Array {
  const w = new PickleWriter();
  w.global('collections', 'OrderedDict').emptyTuple().reduce();
  list.forEach(([name, t], i) => {
    if (i % BATCH === 0) w.mark();
    w.string(name);
    w.global('torch._utils', '_rebuild_tensor_v2');
    w.mark();
    w.mark().string('storage', true).global('torch', dtypeInfo(t.dtype).torchStorage).string(String(i)).string('cpu', true).int(numel(t.shape)).tupleFromMark();
    w.binpersid();
    w.int(0).tuple(t.shape).tuple(contiguousStrides(t.shape)).bool(false);
    w.global('collections', 'OrderedDict').emptyTuple().reduce();
    w.tupleFromMark().reduce();
    if (i % BATCH === BATCH - 1 || i === list.length - 1) w.setitems();
  });
  return w.stop();
}
