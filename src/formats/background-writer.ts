// Moves write(2) calls of a large output to a worker thread, so that writing runs beside the
// conversion's own work instead of after it. The caller stays synchronous: bytes go into a ring of
// shared slots and the worker writes each full slot; the caller waits (Atomics.wait) only when the slot
// it needs is still being written, and at `finish`, which returns once all bytes are written.
//
// Given the file's path, the worker writes whole 4096-byte blocks with direct I/O: straight from the
// ring to the disk, with no copy into the page cache and no long fsync at the end, and two writes in
// flight while the caller fills the other slots. For that, a byte's place in the ring is congruent to
// its file offset modulo the block size, so the ring starts at the first byte's offset within its
// block. The first partial block and the last go through the page cache; the caller's fsync covers
// them. File systems that refuse O_DIRECT (tmpfs) get the page cache throughout.
import * as fs from 'fs';
import { MessageChannel, Worker, receiveMessageOnPort } from 'worker_threads';
import { moveBytes, simdSharedBuffer } from '../math/simd-scale';

const SLOTS = 4;
const SLOT_BYTES = 4 << 20;
/** Direct writes in flight at once. */
const IN_FLIGHT = 2;
/** Direct I/O needs file offset, length and memory aligned to the logical block: 4096 covers the usual sizes. */
const DIRECT_BLOCK = 4096;
/** Past the ring: room for a fill that runs over its end, copied to the ring's start afterwards. */
const SPILL_BYTES = SLOT_BYTES + DIRECT_BLOCK;
/** Through the page cache: once this much is written unsynced, the worker syncs it while it has nothing queued. */
const SYNC_EVERY = 32 << 20;

/** A worker that has not started by then never will (it could not be created): fail instead of hanging. */
const START_TIMEOUT_MS = 20_000;

// Control words (Int32): stop/ack, error, started, direct I/O in use, then each slot's state, length
// and first byte (only the first slot of a ring that starts inside a block skips bytes).
const ACK = 0;
const ERROR = 1;
const STARTED = 2;
const MODE = 3;
const STATE = 4;
const LENGTH = STATE + SLOTS;
const FROM = LENGTH + SLOTS;
const CTRL_WORDS = FROM + SLOTS;
const FULL = 1;
const STOP = 2;

// The thread may start before its output is known (prepareWriterThread): it waits for its job as its first message.
const WORKER = `
const { parentPort } = require('worker_threads');
const fs = require('fs');
parentPort.once('message', (job) => write(job));
function write(workerData) {
const { fd, path, start, direct, block, inFlight, ctrl: c, data: d, port, slots, slotBytes, syncEvery, STATE, LENGTH, FROM, ACK, ERROR, STARTED, MODE } = workerData;
const ctrl = new Int32Array(c);
const data = new Uint8Array(d);
let failed = false;
const fail = (e) => {
  if (failed) return;
  failed = true;
  port.postMessage({ message: e.message, code: e.code });
  Atomics.store(ctrl, ERROR, 1);
};
let sinceSync = 0;
// File offset of the next byte handed over.
let pos = start;
const writeAt = (f, off, n, at) => {
  let done = 0;
  while (done < n) done += fs.writeSync(f, data, off + done, n - done, at + done);
};
const writeAtAsync = (f, off, n, at) =>
  new Promise((resolve, reject) => {
    const step = (done) => (done === n ? resolve() : fs.write(f, data, off + done, n - done, at + done, (e, k) => (e ? reject(e) : step(done + k))));
    step(0);
  });
let dfd = -1;
if (path && direct) {
  try {
    dfd = fs.openSync(path, fs.constants.O_WRONLY | direct);
  } catch {
    // Not every file system takes O_DIRECT (tmpfs refuses it): write through the page cache instead.
    // MODE tells the caller which way the bytes went.
    dfd = -1;
  }
}
let viaCache = dfd < 0;
Atomics.store(ctrl, MODE, viaCache ? 0 : 1);
const release = (i) => {
  Atomics.store(ctrl, STATE + i, 0);
  Atomics.notify(ctrl, STATE + i);
};
// A slot's direct write, while it runs; the slot is released when it ends.
const writes = new Array(slots).fill(undefined);
// Writes n bytes from ring offset off at file offset at: whole blocks directly, the rest through the page cache.
const put = (i, off, n, at) => {
  const head = viaCache ? n : Math.min(n, (block - (at % block)) % block);
  if (head) writeAt(fd, off, head, at);
  const whole = n - head - ((n - head) % block);
  const tail = n - head - whole;
  if (tail) writeAt(fd, off + head + whole, tail, at + head + whole);
  if (!whole) return release(i);
  writes[i] = writeAtAsync(dfd, off + head, whole, at + head)
    .catch((e) => {
      // The file system wants another alignment (EINVAL) or has no direct writes after all: this and
      // every later write go through the page cache.
      if (e.code !== 'EINVAL' && e.code !== 'EOPNOTSUPP' && e.code !== 'ENOTSUP') return fail(e);
      viaCache = true;
      Atomics.store(ctrl, MODE, 0);
      try {
        writeAt(fd, off + head, whole, at + head);
      } catch (e2) {
        fail(e2);
      }
    })
    .finally(() => {
      writes[i] = undefined;
      release(i);
    });
};
const filled = async (i) => {
  while (Atomics.load(ctrl, STATE + i) === 0) {
    const w = Atomics.waitAsync(ctrl, STATE + i, 0);
    if (w.async) await w.value;
  }
  return Atomics.load(ctrl, STATE + i);
};
const run = async () => {
  for (let i = 0; ; i = (i + 1) % slots) {
    await writes[i];
    if ((await filled(i)) === 2) break;
    if (failed) {
      release(i);
      continue;
    }
    // At most inFlight direct writes at once.
    await writes[(i + slots - inFlight) % slots];
    const from = ctrl[FROM + i];
    const n = ctrl[LENGTH + i] - from;
    try {
      put(i, i * slotBytes + from, n, pos);
      pos += n;
      sinceSync += n;
    } catch (e) {
      fail(e);
      release(i);
    }
    // Nothing queued: the caller is computing, so write back what is written meanwhile.
    if (!failed && viaCache && sinceSync >= syncEvery && Atomics.load(ctrl, STATE + (i + 1) % slots) === 0) {
      try {
        fs.fdatasyncSync(fd);
        sinceSync = 0;
      } catch (e) {
        fail(e);
      }
    }
  }
};
// Waiting with Atomics.waitAsync holds no handle: this one keeps the thread's event loop running.
const alive = setInterval(() => {}, 1 << 30);
Atomics.store(ctrl, STARTED, 1);
Atomics.notify(ctrl, STARTED);
run()
  .catch((e) => fail(e))
  // No write may still be running once the caller hears the writer is done.
  .then(() => Promise.all(writes))
  .finally(() => {
    clearInterval(alive);
    // Free every slot, so a caller waiting on one after a failure wakes and sees it.
    for (let k = 0; k < slots; k++) release(k);
    try {
      if (dfd >= 0) fs.closeSync(dfd);
    } catch (e) {
      fail(e);
    }
    Atomics.store(ctrl, ACK, 1);
    Atomics.notify(ctrl, ACK);
  });
}
`;

/** A writer thread started ahead of its output, so its start-up overlaps reading the model. */
let spare: Worker | undefined;

/**
 * Starts a writer thread now for an output that will be large, so the thread is up by the time the
 * first bytes are ready (a thread takes some 40 ms to start). The next BackgroundWriter takes it.
 */
export function prepareWriterThread(): void {
  if (spare) return;
  const w = new Worker(WORKER, { eval: true });
  w.unref();
  // Kept for the writer that takes the thread, which also fails by its start limit if it never starts.
  w.on('error', (e) => earlyErrors.set(w, e));
  spare = w;
}

const earlyErrors = new WeakMap<Worker, Error>();

function writerThread(script: string | undefined): Worker {
  if (script !== undefined) return new Worker(script, { eval: true });
  const w = spare ?? new Worker(WORKER, { eval: true });
  spare = undefined;
  return w;
}

export interface BackgroundWriterOptions {
  /** File offset of the first byte this writer gets (the caller has written everything before it). */
  readonly start: number;
  /** The file's path, so the worker can open it for direct I/O beside `fd`. */
  readonly path?: string;
  /** False: always through the page cache. */
  readonly direct?: boolean;
  /** Tests: replaces the worker script. */
  readonly script?: string;
  /** Tests: replaces the start limit. */
  readonly startTimeoutMs?: number;
  /** Tests: replaces the 4096-byte block (a size the disk refuses exercises the fall-back). */
  readonly block?: number;
}

export class BackgroundWriter {
  private readonly ctrl = new Int32Array(new SharedArrayBuffer(4 * CTRL_WORDS));
  // Memory the SIMD merge loop can work in, so rows are merged where they are written from.
  private readonly data = new Uint8Array(simdSharedBuffer(SLOTS * SLOT_BYTES + SPILL_BYTES), 0, SLOTS * SLOT_BYTES + SPILL_BYTES);
  private readonly port;
  private readonly worker: Worker;
  private slot = 0;
  /** Bytes of the current slot in use, counting the skipped ones before `from`. */
  private used: number;
  private from: number;
  private done = false;

  private readonly startTimeoutMs: number;
  private neverStarted = false;

  constructor(fd: number, options: BackgroundWriterOptions) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.startTimeoutMs = options.startTimeoutMs ?? START_TIMEOUT_MS;
    const block = options.block ?? DIRECT_BLOCK;
    this.used = this.from = options.start % block;
    // Where the platform has no O_DIRECT (macOS), the constant is undefined and the page cache is used.
    const direct = options.path !== undefined && options.direct !== false ? (fs.constants.O_DIRECT ?? 0) : 0;
    this.worker = writerThread(options.script);
    this.worker.postMessage(
      {
        fd, path: options.path, start: options.start, direct, block, inFlight: IN_FLIGHT,
        ctrl: this.ctrl.buffer, data: this.data.buffer, port: port2, slots: SLOTS, slotBytes: SLOT_BYTES, syncEvery: SYNC_EVERY,
        STATE, LENGTH, FROM, ACK, ERROR, STARTED, MODE,
      },
      [port2],
    );
    // A worker that cannot run reports it here only once the caller is back in the event loop, after
    // waitStarted or throwIfFailed has already failed the write; kept for whoever inspects the writer.
    this.workerError = earlyErrors.get(this.worker);
    this.worker.on('error', (e) => {
      this.workerError = e;
    });
    this.worker.unref();
  }

  /** Whether whole blocks go to the disk with direct I/O (known once the worker has started). */
  get direct(): boolean {
    this.waitStarted();
    return Atomics.load(this.ctrl, MODE) === 1;
  }

  /** What the worker thread died of, once the event loop has delivered it. */
  workerError?: Error;

  write(b: Uint8Array): void {
    let at = 0;
    while (at < b.length) {
      this.waitFree(this.slot);
      const n = Math.min(SLOT_BYTES - this.used, b.length - at);
      this.data.set(b.subarray(at, at + n), this.slot * SLOT_BYTES + this.used);
      this.used += n;
      at += n;
      if (this.used === SLOT_BYTES) this.publish();
    }
  }

  /**
   * Lets `fill` write the next `n` bytes in place, then queues them. The target is 4-byte aligned: where
   * the bytes' place in the ring is not, `fill` gets the aligned place just after it and the bytes are
   * moved back by up to 3 bytes, still in the CPU's cache.
   */
  fill(n: number, fill: (target: Uint8Array) => void): void {
    // Bigger ones (with room for the shift) would reach two slots ahead, which may still be in flight.
    if (n + 3 > SLOT_BYTES) {
      const b = new Uint8Array(n);
      fill(b);
      this.write(b);
      return;
    }
    this.waitFree(this.slot);
    const at = this.slot * SLOT_BYTES + this.used;
    const shift = (4 - (at % 4)) % 4;
    // Running into the next slot (or past the ring's end, into the spill room): that slot must be free.
    if (this.used + n + shift > SLOT_BYTES) this.waitFree((this.slot + 1) % SLOTS);
    fill(this.data.subarray(at + shift, at + shift + n));
    if (shift) moveBytes(this.data, at, at + shift, n);
    const ring = SLOTS * SLOT_BYTES;
    if (at + n > ring) moveBytes(this.data, 0, ring, at + n - ring);
    this.used += n;
    if (this.used >= SLOT_BYTES) {
      const over = this.used - SLOT_BYTES;
      this.used = SLOT_BYTES;
      this.publish();
      this.used = over;
    }
  }

  /** Waits until every byte is written, then lets the worker go. Throws what a write threw. */
  finish(): void {
    if (this.used > this.from) this.publish();
    this.stop();
    this.throwIfFailed();
  }

  /** Lets the worker go without reporting errors (the output is being discarded). */
  abandon(): void {
    this.stop();
  }

  private publish(): void {
    Atomics.store(this.ctrl, LENGTH + this.slot, this.used);
    Atomics.store(this.ctrl, FROM + this.slot, this.from);
    Atomics.store(this.ctrl, STATE + this.slot, FULL);
    Atomics.notify(this.ctrl, STATE + this.slot);
    this.slot = (this.slot + 1) % SLOTS;
    this.used = this.from = 0;
  }

  private waitFree(i: number, check = true): void {
    if (Atomics.load(this.ctrl, STATE + i) === FULL) this.waitStarted();
    while (Atomics.load(this.ctrl, STATE + i) === FULL && Atomics.load(this.ctrl, ERROR) === 0) Atomics.wait(this.ctrl, STATE + i, FULL);
    if (check) this.throwIfFailed();
  }

  /**
   * The main thread blocks while it waits, so a worker that could not be created (its 'error' event is
   * never delivered) would leave it waiting for ever: past the start limit, that is an error.
   */
  private waitStarted(): void {
    if (this.neverStarted || Atomics.load(this.ctrl, STARTED) === 1) return;
    if (Atomics.wait(this.ctrl, STARTED, 0, this.startTimeoutMs) === 'timed-out' && Atomics.load(this.ctrl, STARTED) === 0) {
      this.neverStarted = true;
      void this.worker.terminate();
      Atomics.store(this.ctrl, ERROR, 1);
      Atomics.store(this.ctrl, ACK, 1);
      throw new Error(`the background writer thread did not start within ${this.startTimeoutMs / 1000} s`);
    }
  }

  /** The worker waits on the next slot to fill; once all are written, mark that slot STOP and wait for its exit. */
  private stop(): void {
    if (this.done) return;
    this.done = true;
    for (let k = 0; k < SLOTS; k++) this.waitFree((this.slot + k) % SLOTS, false);
    Atomics.store(this.ctrl, STATE + this.slot, STOP);
    Atomics.notify(this.ctrl, STATE + this.slot);
    this.waitStarted();
    while (Atomics.load(this.ctrl, ACK) === 0) Atomics.wait(this.ctrl, ACK, 0);
  }

  private throwIfFailed(): void {
    if (Atomics.load(this.ctrl, ERROR) === 0) return;
    const m = receiveMessageOnPort(this.port)?.message as { message: string; code?: string } | undefined;
    this.stop();
    const e = new Error(m?.message ?? 'write failed') as NodeJS.ErrnoException;
    if (m?.code) e.code = m.code;
    throw e;
  }
}
