// Committing an output: the file is synced before the rename, and its folder after it, so the new name
// survives a crash as the bytes do.
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../../src/formats/atomic-file';
import { tempDir } from '../helpers/fixtures';

const posix = process.platform === 'win32' ? test.skip : test;

posix('the file is synced before the rename and the folder after it', () => {
  const dir = tempDir();
  const target = path.join(dir, 'out.bin');
  const events: string[] = [];
  // The module object itself: the namespace import's bindings are read-only.
  const nodeFs = require('fs') as typeof fs;
  const fsync = nodeFs.fsyncSync;
  const rename = nodeFs.renameSync;
  const syncSpy = jest.spyOn(nodeFs, 'fsyncSync').mockImplementation((fd) => {
    events.push(fs.fstatSync(fd).isDirectory() ? 'sync folder' : 'sync file');
    fsync(fd);
  });
  const renameSpy = jest.spyOn(nodeFs, 'renameSync').mockImplementation((from, to) => {
    events.push(`rename to ${path.basename(String(to))}`);
    rename(from, to);
  });
  try {
    writeFileAtomic(target, (sink) => sink.write(Buffer.from('deploy weights')));
  } finally {
    syncSpy.mockRestore();
    renameSpy.mockRestore();
  }
  expect(events).toEqual(['sync file', 'rename to out.bin', 'sync folder']);
  expect(fs.readFileSync(target, 'utf8')).toBe('deploy weights');
  fs.rmSync(dir, { recursive: true, force: true });
});
