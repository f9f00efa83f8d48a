// The SHA-256 of a file, computed on a worker thread while the conversion goes on, so the digest an output
// records of its input costs no time on the main thread.
import { Worker } from 'worker_threads';

const HASH_WORKER = `
const { parentPort, workerData } = require('worker_threads');
const fs = require('fs');
const crypto = require('crypto');
try {
  const fd = fs.openSync(workerData.file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK || 0));
  const h = crypto.createHash('sha256');
  const buf = Buffer.allocUnsafe(4 << 20);
  let n;
  while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) h.update(buf.subarray(0, n));
  fs.closeSync(fd);
  parentPort.postMessage({ digest: h.digest('hex') });
} catch (e) {
  parentPort.postMessage({ error: String(e && e.message || e) });
}
`;

/** Starts hashing `file`; the promise resolves to its hex SHA-256. The worker does not keep the process alive. */
export function sha256Of(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(HASH_WORKER, { eval: true, workerData: { file } });
    worker.unref();
    worker.once('message', (m: { digest?: string; error?: string }) => (m.digest ? resolve(m.digest) : reject(new Error(`cannot hash ${file}: ${m.error}`))));
    worker.once('error', reject);
  });
}
