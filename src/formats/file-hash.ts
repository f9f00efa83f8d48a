// The SHA-256 of a file, computed on a worker thread while the conversion goes on, so the digest an output
// records of its input costs no time on the main thread. The main thread owns the descriptor: it opens the
// file, and closes it once the worker is done or stopped, so a run that ends early leaves nothing open.
import * as fs from 'fs';
import { Worker } from 'worker_threads';
import { openRegularFile } from './bytes';

const HASH_WORKER = `
const { parentPort, workerData } = require('worker_threads');
const fs = require('fs');
const crypto = require('crypto');
try {
  const h = crypto.createHash('sha256');
  const buf = Buffer.allocUnsafe(4 << 20);
  let at = 0, n;
  while ((n = fs.readSync(workerData.fd, buf, 0, buf.length, at)) > 0) { h.update(buf.subarray(0, n)); at += n; }
  parentPort.postMessage({ digest: h.digest('hex') });
} catch (e) {
  parentPort.postMessage({ error: String(e && e.message || e) });
}
`;

export interface FileHash {
  readonly digest: Promise<string>;
  /** Stops the worker (if still running) and closes the file. */
  stop(): Promise<void>;
}

/** Starts hashing `file` on a worker thread. Call `stop` when done with it, whatever happened. */
export function sha256Of(file: string): FileHash {
  const { fd } = openRegularFile(file);
  const worker = new Worker(HASH_WORKER, { eval: true, workerData: { fd } });
  let closed = false;
  const close = () => {
    if (!closed) fs.closeSync(fd);
    closed = true;
  };
  const digest = new Promise<string>((resolve, reject) => {
    worker.once('message', (m: { digest?: string; error?: string }) => (m.digest ? resolve(m.digest) : reject(new Error(`cannot hash ${file}: ${m.error}`))));
    worker.once('error', reject);
    worker.once('exit', () => reject(new Error(`hashing ${file} stopped`)));
  });
  digest.catch(() => {}); // a stopped hash is not an error of its own
  return {
    digest,
    async stop() {
      await worker.terminate();
      close();
    },
  };
}
