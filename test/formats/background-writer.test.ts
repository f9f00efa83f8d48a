// FileSink's background writing: the bytes land in order whatever the write sizes, whether given as bytes
// or filled in place, and a failed write surfaces as the error write(2) gave.
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../../src/formats/atomic-file';
import { BackgroundWriter, prepareWriterThread } from '../../src/formats/background-writer';
import { FileSink } from '../../src/formats/sink';
import { FileSource } from '../../src/formats/bytes';
import { rng } from '../helpers/random';
import { tempDir } from '../helpers/fixtures';

/** Whether this file system takes O_DIRECT, asked directly, so the writer's own answer can be checked. */
function takesDirectIo(dir: string): boolean {
  const probe = path.join(dir, 'probe.bin');
  try {
    fs.closeSync(fs.openSync(probe, fs.constants.O_WRONLY | fs.constants.O_CREAT | (fs.constants.O_DIRECT ?? 0), 0o644));
    return fs.constants.O_DIRECT !== undefined;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
    return false;
  } finally {
    fs.rmSync(probe, { force: true });
  }
}

test.each([
  ['through the page cache', false],
  ['with direct I/O where the file system takes it', true],
])('writes of every size through the worker give the same file as the bytes given (%s)', (_, direct) => {
  const r = rng(7);
  const dir = tempDir();
  const file = path.join(dir, 'out.bin');
  const parts: Uint8Array[] = [];
  // Sizes around the 4 MiB slots: tiny, slot-sized, several slots at once.
  for (const n of [1, 10, 4 << 20, (4 << 20) - 3, 5, (9 << 20) + 11, 4096, 3 << 20, 0, 17]) {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i += 997) b[i] = r.int(0, 255);
    parts.push(b);
  }
  const fd = fs.openSync(file, 'w');
  // The worker starts 101 bytes in: its first block is partly written already.
  const sink = new FileSink(fd, { backgroundAfter: 100, path: file, direct });
  for (const p of parts) sink.write(p);
  sink.flush();
  // Writing on after a flush works too (the sink buffers again).
  sink.write(Uint8Array.of(1, 2, 3));
  sink.flush();
  fs.closeSync(fd);
  expect(sink.written).toBe(parts.reduce((n, p) => n + p.length, 3));
  expect(Buffer.compare(fs.readFileSync(file), Buffer.concat([...parts, Uint8Array.of(1, 2, 3)]))).toBe(0);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('slices filled in place land in order between plain writes, aligned for float32 views', () => {
  for (const [backgroundAfter, direct] of [[0, false], [0, true], [Infinity, false]] as const) {
    const r = rng(11);
    const dir = tempDir();
    const file = path.join(dir, 'out.bin');
    const expected: Uint8Array[] = [];
    const fd = fs.openSync(file, 'w');
    const sink = new FileSink(fd, { backgroundAfter, path: file, direct });
    // Odd plain writes leave the ring unaligned; fills of 1 MiB run across slots and past the ring's
    // end (it holds 16 MiB), and one passes a slot's size.
    const sizes = [3, 1 << 20, 1 << 20, 1 << 20, 1 << 20, 7, 1 << 20, (5 << 20) + 4, 12, 0, 1 << 20];
    for (const n of [...sizes, ...sizes, ...sizes]) {
      if (r.float() < 0.5) {
        const b = Uint8Array.from({ length: r.int(1, 9) }, () => r.int(0, 255));
        sink.write(b);
        expected.push(b);
      }
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i += 4093) b[i] = r.int(0, 255);
      sink.fill(n, (target) => {
        expect(target.length).toBe(n);
        expect(target.byteOffset % 4).toBe(0);
        target.set(b);
      });
      expected.push(b);
    }
    sink.flush();
    fs.closeSync(fd);
    const want = Buffer.concat(expected);
    expect(sink.written).toBe(want.length);
    expect(Buffer.compare(fs.readFileSync(file), want)).toBe(0);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('random mixes of writes, fills and copies land byte for byte (seeds recorded)', () => {
  const dir = tempDir();
  const source = path.join(dir, 'source.bin');
  const src = new Uint8Array(3 << 20);
  const r0 = rng(5);
  for (let i = 0; i < src.length; i += 251) src[i] = r0.int(0, 255);
  fs.writeFileSync(source, src);
  const input = new FileSource(source);
  for (const seed of [101, 102, 103, 104]) {
    const r = rng(seed);
    const file = path.join(dir, `mix-${seed}.bin`);
    const fd = fs.openSync(file, 'w');
    const sink = new FileSink(fd, { backgroundAfter: r.int(0, 5000), path: file, direct: seed % 2 === 0 });
    const expected: Uint8Array[] = [];
    let total = 0;
    while (total < 40 << 20) {
      const kind = r.int(0, 2);
      const n = r.float() < 0.3 ? r.int(0, 9) : r.int(0, 2 << 20);
      if (kind === 0) {
        const b = Uint8Array.from({ length: Math.min(n, 4096) }, () => r.int(0, 255));
        sink.write(b);
        expected.push(b);
      } else if (kind === 1) {
        const b = src.subarray(0, n - (n % 4));
        sink.fill(b.length, (target) => {
          expect(target.byteOffset % 4).toBe(0);
          target.set(b);
        });
        expected.push(b);
      } else {
        const at = r.int(0, src.length - n);
        sink.copy({ source: input, offset: at, length: n });
        expected.push(src.subarray(at, at + n));
      }
      total += expected[expected.length - 1].length;
    }
    sink.flush();
    fs.closeSync(fd);
    expect({ seed, same: Buffer.compare(fs.readFileSync(file), Buffer.concat(expected)) }).toEqual({ seed, same: 0 });
    fs.rmSync(file);
  }
  input.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a writer thread started ahead of its output takes the next output, and later ones get their own', () => {
  const dir = tempDir();
  prepareWriterThread();
  for (const name of ['first.bin', 'second.bin']) {
    const file = path.join(dir, name);
    const bytes = Uint8Array.from({ length: (9 << 20) + 5 }, (_, i) => (i * 7 + name.length) & 255);
    const fd = fs.openSync(file, 'w');
    const sink = new FileSink(fd, { backgroundAfter: 0, path: file });
    sink.write(bytes);
    sink.flush();
    fs.closeSync(fd);
    expect(Buffer.compare(fs.readFileSync(file), bytes)).toBe(0);
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the worker says whether it writes with direct I/O, and asks for it only when given the path', () => {
  const dir = tempDir();
  const file = path.join(dir, 'mode.bin');
  const fd = fs.openSync(file, 'w');
  for (const [options, expected] of [
    [{ start: 0, path: file }, takesDirectIo(dir)],
    [{ start: 0, path: file, direct: false }, false],
    [{ start: 0 }, false],
  ] as const) {
    const bg = new BackgroundWriter(fd, options);
    expect(bg.direct).toBe(expected);
    bg.finish();
  }
  fs.closeSync(fd);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a staged output past 64 MiB goes out with direct I/O unless the run will read it back', () => {
  const dir = tempDir();
  const bytes = new Uint8Array(65 << 20);
  for (let i = 0; i < bytes.length; i += 4099) bytes[i] = i & 255;
  const direct = takesDirectIo(dir);
  for (const [options, expected] of [[{}, direct], [{ direct: false }, false]] as const) {
    const file = path.join(dir, `out-${expected}.bin`);
    let sink: FileSink | undefined;
    writeFileAtomic(
      file,
      (s) => {
        sink = s;
        s.expect(bytes.length);
        s.write(bytes);
      },
      options,
    );
    expect(sink!.wroteDirect).toBe(expected);
    expect(Buffer.compare(fs.readFileSync(file), bytes)).toBe(0);
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a direct write the file system refuses is made through the page cache instead, byte for byte', () => {
  const dir = tempDir();
  const file = path.join(dir, 'fallback.bin');
  const bytes = Uint8Array.from({ length: (10 << 20) + 77 }, (_, i) => (i * 13) & 255);
  const fd = fs.openSync(file, 'w');
  // 4000-byte "blocks" at offsets that are not multiples of 512: direct I/O refuses them with EINVAL.
  const bg = new BackgroundWriter(fd, { start: 0, path: file, block: 4000 });
  const wasDirect = bg.direct;
  bg.write(bytes);
  bg.finish();
  fs.closeSync(fd);
  expect(bg.direct).toBe(false);
  expect(wasDirect).toBe(takesDirectIo(dir));
  expect(Buffer.compare(fs.readFileSync(file), bytes)).toBe(0);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a write the worker cannot do is thrown to the caller with its code', () => {
  const dir = tempDir();
  const file = path.join(dir, 'ro.bin');
  fs.writeFileSync(file, '');
  const fd = fs.openSync(file, 'r');
  const sink = new FileSink(fd, { backgroundAfter: 0 });
  let error: NodeJS.ErrnoException | undefined;
  try {
    for (let i = 0; i < 8; i++) sink.write(new Uint8Array(1 << 20));
    sink.flush();
  } catch (e) {
    error = e as NodeJS.ErrnoException;
  }
  sink.abandon();
  fs.closeSync(fd);
  expect(error?.code).toBe('EBADF');
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a fill that throws in the worker-backed sink leaves no staged file and the old output as it was', () => {
  const dir = tempDir();
  const file = path.join(dir, 'out.bin');
  fs.writeFileSync(file, 'old output');
  // Past the 64 MiB mark writes run on the worker; a merge that finds NaN throws from inside a fill.
  const big = new Uint8Array(1 << 20);
  expect(() =>
    writeFileAtomic(file, (sink) => {
      for (let i = 0; i < 66; i++) sink.write(big);
      sink.fill(1 << 20, (target) => {
        target.fill(1, 0, 100);
        throw new Error('a merged value is not finite');
      });
    }),
  ).toThrow('a merged value is not finite');
  expect(fs.readdirSync(dir)).toEqual(['out.bin']);
  expect(fs.readFileSync(file, 'utf8')).toBe('old output');
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a writer thread that never starts, or dies, is an error, not a hang', () => {
  const dir = tempDir();
  const file = path.join(dir, 'w.bin');
  const run = (script: string) => {
    const fd = fs.openSync(file, 'w');
    const bg = new BackgroundWriter(fd, { start: 0, script, startTimeoutMs: 300 });
    try {
      // More than the ring holds, so the caller has to wait for the thread.
      for (let i = 0; i < 8; i++) bg.write(new Uint8Array(4 << 20));
      bg.finish();
      return undefined;
    } catch (e) {
      bg.abandon();
      return (e as Error).message;
    } finally {
      fs.closeSync(fd);
    }
  };
  expect(run('this is not JavaScript (')).toBe('the background writer thread did not start within 0.3 s');
  // A thread that starts, then throws something its own checks did not expect.
  const dies = `require('worker_threads').parentPort.once('message', (w) => {
    const c = new Int32Array(w.ctrl);
    w.port.postMessage({ message: 'the writer thread broke' });
    Atomics.store(c, w.ERROR, 1);
    Atomics.store(c, w.STARTED, 1);
    for (let k = 0; k < w.slots; k++) { Atomics.store(c, w.STATE + k, 0); Atomics.notify(c, w.STATE + k); }
    Atomics.store(c, w.ACK, 1);
    Atomics.notify(c, w.ACK);
  });`;
  expect(run(dies)).toBe('the writer thread broke');
  fs.rmSync(dir, { recursive: true, force: true });
});
