// Committing an output: the file is synced before the rename, and its folder after it, so the new name
// survives a crash as the bytes do.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { UserError } from '../../src/errors';
import { stageFile, stagingStem, writeFailure, writeFileAtomic } from '../../src/formats/atomic-file';
import { thrown } from '../helpers/errors';
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

// A rename over a device node would replace it with a regular file (as root, /dev/null itself).
const linux = process.platform === 'linux' ? test : test.skip;

linux('a path that is not a regular file is refused before anything is staged, and stays as it was', () => {
  const dir = tempDir();
  const fifo = path.join(dir, 'pipe.onnx');
  expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
  const link = path.join(dir, 'null.onnx');
  fs.symlinkSync('/dev/null', link);
  const cases: [string, RegExp][] = [
    ['/dev/null', /cannot write \/dev\/null: it is a character device, not a regular file/],
    [fifo, /it is a named pipe, not a regular file/],
    [link, /null\.onnx: it is a character device/],
    [dir, /it is a directory/],
    [path.join(dir, 'missing', 'out.onnx'), /folder .*missing does not exist/],
  ];
  for (const [target, message] of cases) {
    let wrote = false;
    const e = thrown(() => writeFileAtomic(target, (sink) => ((wrote = true), sink.write(Buffer.from('x')))));
    expect(e).toBeInstanceOf(UserError);
    expect((e as UserError).message).toMatch(message);
    expect(wrote).toBe(false);
  }
  expect(fs.statSync('/dev/null').isCharacterDevice()).toBe(true);
  expect(fs.lstatSync(fifo).isFIFO()).toBe(true);
  expect(fs.readlinkSync(link)).toBe('/dev/null');
  expect(fs.readdirSync(dir).sort()).toEqual(['null.onnx', 'pipe.onnx']);
  expect(fs.readdirSync('/dev').filter((n) => n.endsWith('.tmp'))).toEqual([]);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a dangling symlink is replaced by the output (nothing stood there to keep)', () => {
  const dir = tempDir();
  const link = path.join(dir, 'out.bin');
  fs.symlinkSync(path.join(dir, 'gone'), link);
  writeFileAtomic(link, (sink) => sink.write(Buffer.from('weights')));
  expect(fs.lstatSync(link).isFile()).toBe(true);
  expect(fs.readFileSync(link, 'utf8')).toBe('weights');
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('what the machine refuses is said as such (CANNOT_WRITE, exit 2), and nothing is left behind', () => {
  const errno = (code: string) => Object.assign(new Error(`${code}: simulated`), { code });

  test('no space left while writing: the temporary file goes, an existing output stays', () => {
    const dir = tempDir();
    const target = path.join(dir, 'out.bin');
    fs.writeFileSync(target, 'old weights');
    const nodeFs = require('fs') as typeof fs;
    const spy = jest.spyOn(nodeFs, 'writeSync').mockImplementation(() => {
      throw errno('ENOSPC');
    });
    let e: unknown;
    try {
      e = thrown(() => writeFileAtomic(target, (sink) => sink.write(Buffer.alloc(1 << 16))));
    } finally {
      spy.mockRestore();
    }
    expect(e).toBeInstanceOf(UserError);
    expect((e as UserError).code).toBe('CANNOT_WRITE');
    expect((e as UserError).message).toBe(`cannot write ${target}: no space is left on the device (ENOSPC)`);
    expect((e as UserError).hint).toBe('free some space, or write to another disk');
    expect(fs.readdirSync(dir)).toEqual(['out.bin']);
    expect(fs.readFileSync(target, 'utf8')).toBe('old weights');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a folder that may not be written to, and an error with another code, which stays as it is', () => {
    const dir = tempDir();
    const target = path.join(dir, 'out.bin');
    const nodeFs = require('fs') as typeof fs;
    for (const [code, expected] of [
      ['EACCES', /^cannot write .*out\.bin: permission denied \(EACCES\)$/],
      ['EROFS', /^cannot write .*out\.bin: the file system is read-only \(EROFS\)$/],
    ] as const) {
      const spy = jest.spyOn(nodeFs, 'openSync').mockImplementation(() => {
        throw errno(code);
      });
      try {
        const e = thrown(() => writeFileAtomic(target, (sink) => sink.write(Buffer.from('x'))));
        expect(e).toBeInstanceOf(UserError);
        expect(e.message).toMatch(expected);
      } finally {
        spy.mockRestore();
      }
    }
    const odd = errno('EWEIRD');
    expect(writeFailure(odd, target)).toBe(odd);
    expect(fs.readdirSync(dir)).toEqual([]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

posix('a replaced output keeps the permissions (and, as root, the owner) of the file it replaces', () => {
  const dir = tempDir();
  const target = path.join(dir, 'private.bin');
  fs.writeFileSync(target, 'old', { mode: 0o600 });
  fs.chmodSync(target, 0o600);
  const asRoot = process.getuid?.() === 0;
  if (asRoot) fs.chownSync(target, 12345, 23456);
  writeFileAtomic(target, (sink) => sink.write(Buffer.from('new')));
  const st = fs.statSync(target);
  expect(st.mode & 0o7777).toBe(0o600);
  if (asRoot) expect([st.uid, st.gid]).toEqual([12345, 23456]);
  expect(fs.readFileSync(target, 'utf8')).toBe('new');
  // A new output gets the usual mode (0644 less the umask).
  const fresh = path.join(dir, 'fresh.bin');
  writeFileAtomic(fresh, (sink) => sink.write(Buffer.from('x')));
  expect(fs.statSync(fresh).mode & 0o777).toBe(0o644 & ~process.umask());
  fs.rmSync(dir, { recursive: true, force: true });
});

test('an output named near the 255-byte limit is staged under a shorter name, cut between characters', () => {
  const dir = tempDir();
  const long = path.join(dir, `${'é'.repeat(125)}.bin`); // 255 bytes
  writeFileAtomic(long, (sink) => sink.write(Buffer.from('weights')));
  expect(fs.readFileSync(long, 'utf8')).toBe('weights');
  expect(fs.readdirSync(dir)).toEqual([path.basename(long)]);
  const stem = stagingStem(long);
  expect(Buffer.byteLength(stem)).toBe(200);
  expect(stem).toBe('é'.repeat(100));
  expect(stagingStem(path.join(dir, `x${'é'.repeat(120)}`))).toBe(`x${'é'.repeat(99)}`);
  expect(stagingStem('/a/short.onnx')).toBe('short.onnx');
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a rename the file system refuses leaves neither the staged file nor a changed output', () => {
  const dir = tempDir();
  const target = path.join(dir, 'out.bin');
  fs.writeFileSync(target, 'old');
  const nodeFs = require('fs') as typeof fs;
  const staged = stageFile(target, (sink) => sink.write(Buffer.from('new')));
  const spy = jest.spyOn(nodeFs, 'renameSync').mockImplementation(() => {
    throw Object.assign(new Error('EACCES: simulated'), { code: 'EACCES' });
  });
  try {
    expect(() => staged.commit()).toThrow(/^cannot write .*out\.bin: permission denied \(EACCES\)$/);
  } finally {
    spy.mockRestore();
  }
  expect(fs.readdirSync(dir)).toEqual(['out.bin']);
  expect(fs.readFileSync(target, 'utf8')).toBe('old');
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('syncLater', () => {
  test('the staged file syncs in the background; commit waits for it, and refuses before', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'repvgg-sync-later-'));
    try {
      const target = path.join(dir, 'out.bin');
      const s = stageFile(target, (sink) => sink.write(Buffer.alloc(1 << 20, 7)), { syncLater: true });
      expect(s.synced).toBeInstanceOf(Promise);
      expect(fs.readFileSync(s.tmp).length).toBe(1 << 20);
      // Whether the sync is done yet or not, after it resolves the commit goes through.
      await s.synced;
      s.commit();
      expect(fs.readFileSync(target).length).toBe(1 << 20);
      const early = stageFile(path.join(dir, 'early.bin'), (sink) => sink.write(Buffer.alloc(16)), { syncLater: true });
      let threw = false;
      try {
        early.commit();
      } catch (e) {
        threw = /before its staged file was synced/.test((e as Error).message);
      }
      await early.synced;
      // Either the sync had already finished (the commit went through) or the commit said why not.
      expect(threw || fs.existsSync(path.join(dir, 'early.bin'))).toBe(true);
      if (threw) early.commit();
      expect(fs.readdirSync(dir).sort()).toEqual(['early.bin', 'out.bin']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
