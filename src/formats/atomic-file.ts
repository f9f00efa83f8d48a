// Outputs are written to a temporary file beside the target, synced, then renamed over it, so a failed
// or interrupted run leaves no partial file and an existing output stays as it was until the end.
import * as fs from 'fs';
import * as path from 'path';
import { UserError } from '../errors';
import { FileSink } from './sink';

export function writeFileAtomic<T>(target: string, write: (sink: FileSink) => T): T {
  const dir = path.dirname(path.resolve(target));
  if (!fs.existsSync(dir)) throw new UserError(`cannot write ${target}: folder ${dir} does not exist`, { code: 'BAD_USAGE', hint: 'create the folder first' });
  if (fs.existsSync(target) && fs.statSync(target).isDirectory()) throw new UserError(`cannot write ${target}: it is a directory`, { code: 'BAD_USAGE' });
  const tmp = path.join(dir, `.${path.basename(target)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  const fd = fs.openSync(tmp, 'wx', 0o644);
  let ok = false;
  try {
    const sink = new FileSink(fd);
    const out = write(sink);
    sink.flush();
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, target);
    ok = true;
    return out;
  } finally {
    if (!ok) {
      try {
        fs.closeSync(fd);
      } catch {
        // already closed after a successful fsync; the unlink below is what matters
      }
      fs.rmSync(tmp, { force: true });
    }
  }
}
