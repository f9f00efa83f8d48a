// Bars are drawn on a TTY only, never with --json or --quiet; warnings always reach the user.
import { PassThrough } from 'stream';
import { progressPrinter } from '../../src/cli/progress';
import { makeOutput } from '../../src/cli/output';
import type { ConvertEvent } from '../../src/api/events';

function fakeStream(tty: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  const s = new PassThrough() as unknown as NodeJS.WriteStream & PassThrough;
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  Object.assign(s, { isTTY: tty, columns: 100, cursorTo: () => true, clearLine: () => true, moveCursor: () => true });
  return { stream: s, text: () => Buffer.concat(chunks).toString('utf8') };
}

function run(tty: boolean, flags: { json?: boolean; quiet?: boolean }): string {
  const { stream, text } = fakeStream(tty);
  const p = progressPrinter(makeOutput(flags), stream);
  p({ type: 'phase-start', phase: 'verify' });
  p({ type: 'progress', phase: 'verify', done: 1, total: 2, unit: 'sessions' });
  p({ type: 'phase-end', phase: 'verify', ms: 5 });
  p.stop();
  return text();
}

/** The lines a sequence of events draws on a TTY, at the given clock readings (ms). */
function lines(events: readonly [number, ConvertEvent][]): string[] {
  const { stream, text } = fakeStream(true);
  let t = 0;
  const p = progressPrinter(makeOutput({}), stream, () => t);
  for (const [at, e] of events) {
    t = at;
    p(e);
  }
  return text().split('\r').map((l) => l.replace(/\x1b\[K/g, '')).filter((l) => l.length > 0);
}

describe('progress bars', () => {
  const ci = process.env.CI;
  beforeAll(() => delete process.env.CI);
  afterAll(() => {
    if (ci !== undefined) process.env.CI = ci;
  });

  test('drawn on a TTY', () => expect(run(true, {})).toMatch(/verify +\[#+-+\] +50% +1\/2 sessions/));

  test('bytes: a bar, the amount, the rate and the time left; redrawn at most every 100 ms, and at the end', () => {
    const MiB = 2 ** 20;
    const drawn = lines([
      [0, { type: 'phase-start', phase: 'write', detail: 'deploy.onnx' }],
      [0, { type: 'progress', phase: 'write', done: 0, total: 100 * MiB, unit: 'bytes' }],
      [50, { type: 'progress', phase: 'write', done: 10 * MiB, total: 100 * MiB, unit: 'bytes' }],
      [1000, { type: 'progress', phase: 'write', done: 50 * MiB, total: 100 * MiB, unit: 'bytes' }],
      [1010, { type: 'progress', phase: 'write', done: 51 * MiB, total: 100 * MiB, unit: 'bytes' }],
      [2000, { type: 'progress', phase: 'write', done: 100 * MiB, total: 100 * MiB, unit: 'bytes' }],
    ]);
    expect(drawn).toEqual([
      'write   deploy.onnx',
      'write   [------------------------]    0%  0.0/100 MiB',
      'write   [############------------]   50%  50/100 MiB  50 MiB/s  1 s left',
      'write   [########################]  100%  100/100 MiB  50 MiB/s',
    ]);
  });

  test('a count without a total: the count and its rate', () => {
    const drawn = lines([
      [0, { type: 'progress', phase: 'bench', done: 0, unit: 'runs', what: 'timed' }],
      [2000, { type: 'progress', phase: 'bench', done: 8, unit: 'runs', what: 'timed' }],
    ]);
    expect(drawn[1]).toBe('bench   timed  8 runs  4.0 runs/s');
  });
  test('never when piped, with --json, or with --quiet', () => {
    expect(run(false, {})).toBe('');
    expect(run(true, { json: true })).toBe('');
    expect(run(true, { quiet: true })).toBe('');
  });
});
