// A model's metadata_props (key → value, the last of a key winning), read from the model's top-level
// fields only: the graph is skipped, whatever its size.
import { DecodeError, FormatError } from '../../errors';
import { FileSource } from '../bytes';
import { last, ProtoReader } from '../protobuf/reader';
import { EntryField, ModelField } from './fields';

export function onnxMetadata(file: string): Record<string, string> {
  const source = new FileSource(file);
  try {
    const r = new ProtoReader(source);
    const out: Record<string, string> = {};
    for (const f of r.fields(0, source.length)) {
      if (f.no !== ModelField.metadataProps) continue;
      const entry = r.fields(f.valueStart, f.end);
      const k = last(entry, EntryField.key);
      const v = last(entry, EntryField.value);
      if (k) out[r.string(k)] = v ? r.string(v) : '';
    }
    return out;
  } catch (e) {
    if (e instanceof DecodeError) throw new FormatError(file, 'an ONNX model', e.message, { offset: e.offset });
    throw e;
  } finally {
    source.close();
  }
}
