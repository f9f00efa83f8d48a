// The process onnxruntime runs in during a check (see ort-host.ts): it opens sessions, runs them and
// answers over the IPC channel. A model can keep onnxruntime busy in native code for as long as it
// likes (a Loop of 2^40 iterations), where no JavaScript runs and no signal handler either; in a process
// of its own it can be killed, and the command line stays free to answer Ctrl-C. Nothing it prints
// (onnxruntime's own log) reaches the terminal: its stdout and stderr go to the parent, which keeps them.
import { Worker } from 'worker_threads';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { float16Tensor, onnxruntime } from './runtime';
import type { HostReply, HostRequest, WireTensor } from './ort-host';

const sessions = new Map<number, InferenceSession>();
let next = 1;

// Dies with its parent: a parent that is killed cannot kill it, and a session stuck in native code never
// sees the IPC channel close. A thread of its own watches whose child this process is.
new Worker(
  `const parent = ${process.ppid};
   setInterval(() => { if (process.ppid !== parent) process.kill(process.pid, 'SIGKILL'); }, 200);`,
  { eval: true },
).unref();

const toTensor = (w: WireTensor): Tensor => {
  const ort = onnxruntime();
  if (w.type === 'float16') return float16Tensor(w.data as Uint16Array, w.dims);
  return new ort.Tensor(w.type as 'float32', w.data as Float32Array, w.dims);
};

const fromTensor = (t: Tensor): WireTensor => ({ type: t.type, dims: [...t.dims], data: t.data as WireTensor['data'] });

async function handle(m: HostRequest): Promise<HostReply> {
  switch (m.op) {
    case 'open': {
      const s = await onnxruntime().InferenceSession.create(m.file, m.options);
      const id = next++;
      sessions.set(id, s);
      return { id: m.id, session: id, inputNames: s.inputNames, outputNames: s.outputNames, inputMetadata: s.inputMetadata, outputMetadata: s.outputMetadata };
    }
    case 'run': {
      const s = sessions.get(m.session);
      if (!s) throw new Error(`no session ${m.session}`);
      const feeds = Object.fromEntries(Object.entries(m.feeds).map(([k, v]) => [k, toTensor(v)]));
      const t = performance.now();
      const out = m.fetches ? await s.run(feeds, m.fetches) : await s.run(feeds);
      const ms = performance.now() - t;
      return { id: m.id, outputs: Object.fromEntries(Object.entries(out).map(([k, v]) => [k, fromTensor(v as Tensor)])), ms };
    }
    case 'release': {
      await sessions.get(m.session)?.release();
      sessions.delete(m.session);
      return { id: m.id };
    }
  }
}

process.on('message', (m: HostRequest) => {
  handle(m).then(
    (reply) => process.send!(reply),
    (e: unknown) => {
      const message = typeof e === 'object' && e !== null && typeof (e as { message?: unknown }).message === 'string' ? (e as Error).message : String(e);
      process.send!({ id: m.id, error: message } satisfies HostReply);
    },
  );
});
process.on('disconnect', () => process.exit(0));
// Loaded now: a host started ahead of need (prewarmHost) is ready when the check comes.
onnxruntime();
