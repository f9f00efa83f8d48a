// Moves write(2) calls of a large output to a worker thread, so that the page-cache copy and the
// write-back run beside the conversion's own work instead of after it. The caller stays synchronous:
// bytes are copied into a ring of shared slots and the worker writes them in order; the caller waits
// (Atomics.wait) only when every slot is full, and at `finish`, which returns once all bytes are written.
import { MessageChannel, Worker, receiveMessageOnPort } from 'worker_threads';
import { simdSharedBuffer } from '../math/simd-scale';

const SLOTS = 4;
const SLOT_BYTES = 4 << 20;
/** Once this much is written unsynced, the worker syncs it while it has nothing queued: the final fsync stays short. */
const SYNC_EVERY = 32 << 20;

/** A worker that has not started by then never will (it could not be created): fail instead of hanging. */
const START_TIMEOUT_MS = 20_000;

// Control words (Int32): stop/ack, error, started, then each slot's state and length.
const ACK = 0;
const ERROR = 1;
const STARTED = 2;
const STATE = 3;
const LENGTH = STATE + SLOTS;
const FULL = 1;
const STOP = 2;

const WORKER = `
const { workerData } = require('worker_threads');
const fs = require('fs');
const { fd, ctrl: c, data: d, port, slots, slotBytes, syncEvery, STATE, LENGTH, ACK, ERROR, STARTED } = workerData;
const ctrl = new Int32Array(c);
const data = new Uint8Array(d);
let failed = false;
let sinceSync = 0;
const fail = (e) => {
  failed = true;
  port.postMessage({ message: e.message, code: e.code });
  Atomics.store(ctrl, ERROR, 1);
};
Atomics.store(ctrl, STARTED, 1);
Atomics.notify(ctrl, STARTED);
try {
for (let i = 0; ; i = (i + 1) % slots) {
  Atomics.wait(ctrl, STATE + i, 0);
  const state = Atomics.load(ctrl, STATE + i);
  if (state === 2) break;
  if (!failed) {
    try {
      const n = ctrl[LENGTH + i];
      const view = data.subarray(i * slotBytes, i * slotBytes + n);
      let done = 0;
      while (done < n) done += fs.writeSync(fd, view, done, n - done);
      sinceSync += n;
    } catch (e) {
      fail(e);
    }
  }
  Atomics.store(ctrl, STATE + i, 0);
  Atomics.notify(ctrl, STATE + i);
  // Nothing queued: the caller is computing, so write back what is written meanwhile.
  if (!failed && sinceSync >= syncEvery && Atomics.load(ctrl, STATE + (i + 1) % slots) === 0) {
    try {
      fs.fdatasyncSync(fd);
      sinceSync = 0;
    } catch (e) {
      fail(e);
    }
  }
}
} catch (e) {
  // Anything unexpected: report it and free every slot, so a caller waiting on one wakes and sees it.
  fail(e);
  for (let k = 0; k < slots; k++) {
    Atomics.store(ctrl, STATE + k, 0);
    Atomics.notify(ctrl, STATE + k);
  }
}
Atomics.store(ctrl, ACK, 1);
Atomics.notify(ctrl, ACK);
`;

export class BackgroundWriter {
  private readonly ctrl = new Int32Array(new SharedArrayBuffer(4 * (LENGTH + SLOTS)));
  // Memory the SIMD merge loop can work in, so rows are merged where they are written from.
  private readonly data = new Uint8Array(simdSharedBuffer(SLOTS * SLOT_BYTES), 0, SLOTS * SLOT_BYTES);
  private readonly port;
  private readonly worker: Worker;
  private slot = 0;
  private used = 0;
  private done = false;

  private readonly startTimeoutMs: number;
  private neverStarted = false;

  /** `script` and `startTimeoutMs` replace the worker and its start limit in tests. */
  constructor(fd: number, test: { script?: string; startTimeoutMs?: number } = {}) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.startTimeoutMs = test.startTimeoutMs ?? START_TIMEOUT_MS;
    this.worker = new Worker(test.script ?? WORKER, {
      eval: true,
      workerData: { fd, ctrl: this.ctrl.buffer, data: this.data.buffer, port: port2, slots: SLOTS, slotBytes: SLOT_BYTES, syncEvery: SYNC_EVERY, STATE, LENGTH, ACK, ERROR, STARTED },
      transferList: [port2],
    });
    // A worker that cannot run reports it here only once the caller is back in the event loop, after
    // waitStarted or throwIfFailed has already failed the write; kept for whoever inspects the writer.
    this.worker.on('error', (e) => {
      this.workerError = e;
    });
    this.worker.unref();
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

  /** Lets `fill` write the next `n` bytes straight into a slot (4-byte aligned), then queues them. */
  fill(n: number, fill: (target: Uint8Array) => void): void {
    if (n > SLOT_BYTES) {
      const b = new Uint8Array(n);
      fill(b);
      this.write(b);
      return;
    }
    if (this.used % 4 || SLOT_BYTES - this.used < n) this.publish();
    this.waitFree(this.slot);
    const at = this.slot * SLOT_BYTES + this.used;
    fill(this.data.subarray(at, at + n));
    this.used += n;
    if (this.used === SLOT_BYTES) this.publish();
  }

  /** Waits until every byte is written, then lets the worker go. Throws what a write threw. */
  finish(): void {
    if (this.used) this.publish();
    this.stop();
    this.throwIfFailed();
  }

  /** Lets the worker go without reporting errors (the output is being discarded). */
  abandon(): void {
    this.stop();
  }

  private publish(): void {
    Atomics.store(this.ctrl, LENGTH + this.slot, this.used);
    Atomics.store(this.ctrl, STATE + this.slot, FULL);
    Atomics.notify(this.ctrl, STATE + this.slot);
    this.slot = (this.slot + 1) % SLOTS;
    this.used = 0;
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
