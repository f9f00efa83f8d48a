// Models that cannot run anywhere (a Conv of group 0, a BatchNorm whose statistics are too short, a
// 1x1 branch with a 5x5 weight, a weight with an empty dimension), external data that is a folder, an
// input that shrinks while it is read and a missing TMPDIR: every command refuses them in one line that
// names the node or the file, with a fix, before onnxruntime sees the model (so none of its log), and
// leaves the output folder and an earlier output as they were.
import * as fs from 'fs';
import * as path from 'path';
import { tempDir } from '../helpers/fixtures';
import { onnxWithExternal } from './hostile-files';
import { BlockFaults, repvggBlock } from './hostile-models';
import { Run, cli, expectOneLine, modelBeside, untouched } from './run-cli';

const root = tempDir();
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const setUp = (bytes: Uint8Array) => modelBeside(root, bytes);

/** One line, exit 2, and nothing of onnxruntime's log (its coloured lines, its source locations). */
function refused(r: Run, message: RegExp): void {
  expectOneLine(r);
  expect(r.stderr).toMatch(message);
  expect(r.stderr).not.toMatch(/\u001b|onnxruntime::|\[E:onnxruntime|Non-zero status code|\.cc:\d+/);
  expect(r.stderr).toMatch(/^ {2}fix: \S/m);
}

const COMMANDS = {
  convert: (s: { file: string; out: string }) => [s.file, s.out],
  'convert --no-verify': (s: { file: string; out: string }) => [s.file, s.out, '--no-verify'],
  verify: (s: { file: string }) => ['verify', s.file, s.file],
  bench: (s: { file: string }) => ['bench', s.file, s.file, '--runs', '1', '--warmup', '0'],
  inspect: (s: { file: string }) => ['inspect', s.file],
} as const;

const MALFORMED: ReadonlyArray<readonly [string, BlockFaults, RegExp]> = [
  ['a Conv of group 0', { group3: 0 }, /m\.onnx: Conv stage\.conv3: 8 output channels do not split into 0 groups; the model is malformed and cannot run$/m],
  ['a Conv of group 2^40', { group3: 2 ** 40 }, /Conv stage\.conv3: 8 output channels do not split into 1099511627776 groups/],
  ['a BatchNorm running_var shorter than its channels', { var3: 4 }, /BatchNormalization stage\.bn3: input_var v3 holds 4 values for 8 channels/],
  ['BatchNorm statistics of 4 values on 8 channels', { stats3: 4 }, /BatchNormalization stage\.bn3: scale g3 holds 4 values for 8 channels/],
  ['a 1x1-branch weight of [8,3,5,5] under kernel_shape [1,1]', { channels: 3, w1: [8, 3, 5, 5] }, /Conv stage\.conv1: kernel_shape \[1,1\] does not match weight w1 of shape \[8,3,5,5\]/],
  ['a 1x1-branch weight of [8,3,5,5], no kernel_shape (the branches do not add up)', { channels: 3, w1: [8, 3, 5, 5], kernel1: null }, /Add stage\.add: its inputs of shapes \[1,8,8,8\] and \[1,8,4,4\] do not broadcast/],
  ['a 1x1-branch weight of [8,3,5,5] on 8 channels', { w1: [8, 3, 5, 5], kernel1: null }, /Conv stage\.conv1: its input has 8 channels, its weight w1 of shape \[8,3,5,5\] takes 3/],
  ['a Conv weight of [8,0,3,3]', { w3: [8, 0, 3, 3] }, /Conv stage\.conv3: weight w3 has shape \[8,0,3,3\]; a conv weight is \[out, in\/group, kernel…\] with no empty dimension/],
];

describe.each(Object.keys(COMMANDS) as (keyof typeof COMMANDS)[])('%s refuses a model that cannot run, naming the node', (command) => {
  test.each(MALFORMED)('%s', async (_name, faults, message) => {
    const s = setUp(repvggBlock(faults));
    const r = await cli(COMMANDS[command](s));
    refused(r, message);
    untouched(s);
  });
});

test('the same block, well formed, converts and is checked (the malformed ones differ from it in one place)', async () => {
  const s = setUp(repvggBlock());
  fs.rmSync(s.out);
  const r = await cli([s.file, s.out]);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  expect(r.stdout).toMatch(/^PASSED: /m);
});

describe('external data that is a folder', () => {
  test.each([
    ['location "."', '.'],
    ['a sub-folder', 'sub'],
  ])('%s: every command refuses it', async (_name, location) => {
    for (const command of Object.keys(COMMANDS) as (keyof typeof COMMANDS)[]) {
      const s = setUp(onnxWithExternal({ location }));
      if (location === 'sub') fs.mkdirSync(path.join(s.dir, 'sub'));
      const r = await cli(COMMANDS[command](s));
      refused(r, new RegExp(`^error: w: external data file ${location.replace('.', '\\.')} is a directory, not a regular file$`, 'm'));
      untouched(s, location === 'sub' ? ['sub'] : []);
    }
  });
});

describe('the environment', () => {
  test.each([
    ['does not exist', (d: string) => path.join(d, 'missing')],
    ['is not a folder', (d: string) => path.join(d, 'm.onnx')],
  ])('a TMPDIR that %s: the check that needs scratch space says so', async (what, tmp) => {
    const s = setUp(repvggBlock());
    const r = await cli(['verify', '--per-block', s.file, s.file], { env: { ...process.env, TMPDIR: tmp(s.dir) } });
    refused(r, new RegExp(`^error: the temporary folder .* ${what}, and the check needs scratch space there$`, 'm'));
    untouched(s);
  });

  test.each([
    ['convert', (f: string, out: string) => [f, out, '--no-verify']],
    ['inspect', (f: string) => ['inspect', f]],
    ['verify', (f: string) => ['verify', f, f]],
  ])('an input that shrinks while %s reads it is refused as changed, not as malformed', async (_command, args) => {
    // A weight past the first read window, so that it is read after the file was cut short.
    const s = setUp(repvggBlock({ channels: 512 }));
    const shrink = path.join(__dirname, 'shrink-on-read.js');
    const r = await cli(args(s.file, s.out), { nodeArgs: ['-r', shrink], env: { ...process.env, SHRINK_PATH: s.file, SHRINK_TO: '1000' } });
    refused(r, /m\.onnx changed while it was being read: it ends before byte \d+, which was there when it was opened$/m);
    expect(fs.readFileSync(s.out, 'utf8')).toBe('an earlier output');
  });
});
