// Bars are drawn on a TTY only, never with --json or --quiet; warnings always reach the user.
import { PassThrough } from 'stream';
import { progressPrinter } from '../../src/cli/progress';
import { makeOutput } from '../../src/cli/output';

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
  p({ type: 'progress', phase: 'verify', done: 1, total: 2 });
  p({ type: 'phase-end', phase: 'verify', ms: 5 });
  p.stop();
  return text();
}

describe('progress bars', () => {
  const ci = process.env.CI;
  beforeAll(() => delete process.env.CI);
  afterAll(() => {
    if (ci !== undefined) process.env.CI = ci;
  });

  test('drawn on a TTY', () => expect(run(true, {})).toMatch(/verify \[.*\] \d+%/));
  test('never when piped, with --json, or with --quiet', () => {
    expect(run(false, {})).toBe('');
    expect(run(true, { json: true })).toBe('');
    expect(run(true, { quiet: true })).toBe('');
  });
});
