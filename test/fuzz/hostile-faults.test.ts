// Faults beyond a file's bytes, end to end through the command line: what the file system holds around a
// model (named pipes, links out of its folder), and that every command refuses them at once, in one line.
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { FIXTURES, tempDir } from '../helpers/fixtures';
import { MAX_NODES } from '../../src/formats/onnx/read';
import { fifo, onnxWithExternal, reluChain } from './hostile-files';
import { constantOfShape, constantOfShapeFromInput, loop, reshapeFromInput } from './hostile-models';
import { BIN, Run, cli, expectOneLine, modelBeside, untouched } from './run-cli';

const root = tempDir();
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** A folder holding m.onnx, whose tensor w is read from `w.bin`, made by `place`. */
function model(place: (dir: string) => void): string {
  const dir = fs.mkdtempSync(path.join(root, 'm-'));
  place(dir);
  const file = path.join(dir, 'm.onnx');
  fs.writeFileSync(file, onnxWithExternal({ location: 'w.bin' }));
  return file;
}

const oneLine = expectOneLine;

describe('external data that is not a regular file inside the model folder', () => {
  test('inspect refuses a named pipe at once', async () => {
    const r = await cli(['inspect', model((d) => fifo(path.join(d, 'w.bin')))]);
    oneLine(r);
    expect(r.stderr).toMatch(/external data file w\.bin is a named pipe, not a regular file/);
  });

  test('convert refuses a named pipe at once (the open does not wait for a writer)', async () => {
    const m = model((d) => fifo(path.join(d, 'w.bin')));
    const r = await cli([m, path.join(path.dirname(m), 'out.onnx'), '--no-verify']);
    oneLine(r);
    expect(fs.readdirSync(path.dirname(m)).sort()).toEqual(['m.onnx', 'w.bin']);
  });

  test.each(['verify', 'bench'])('%s refuses a reference whose data is a link out of its folder, before onnxruntime reads it', async (command) => {
    const secret = path.join(root, `secret-${command}.bin`);
    fs.writeFileSync(secret, new Uint8Array(64));
    const m = model((d) => fs.symlinkSync(secret, path.join(d, 'w.bin')));
    const ok = model((d) => fs.writeFileSync(path.join(d, 'w.bin'), new Uint8Array(64)));
    const r = await cli([command, m, ok]);
    oneLine(r);
    expect(r.stderr).toMatch(/w: external data location "w\.bin" resolves, through a symbolic link, to a file outside the model's folder/);
  });
});

describe('graphs larger than the reader takes', () => {
  test('a chain of MAX_NODES + 1 nodes is refused before its nodes are decoded', async () => {
    const dir = fs.mkdtempSync(path.join(root, 'big-'));
    const file = path.join(dir, 'chain.onnx');
    fs.writeFileSync(file, reluChain(MAX_NODES + 1));
    const r = await cli([file, path.join(dir, 'out.onnx'), '--no-verify']);
    oneLine(r);
    expect(r.stderr).toMatch(new RegExp(`chain\\.onnx: the graph has ${MAX_NODES + 1} nodes, more than this tool reads`));
    expect(fs.readdirSync(dir)).toEqual(['chain.onnx']);
  });
});

describe('a conversion writes the output it was named and nothing else', () => {
  const TRAIN_PTH = path.join(FIXTURES, 'ckpt', 'official', 'train.pth');

  test('an input named model.pth.json, converted to model.pth, is left as it was', async () => {
    const dir = fs.mkdtempSync(path.join(root, 'side-'));
    const input = path.join(dir, 'model.pth.json');
    fs.copyFileSync(TRAIN_PTH, input);
    const r = await cli([input, path.join(dir, 'model.pth'), '--no-verify']);
    expect(r.code).toBe(0);
    expect(fs.readFileSync(input).equals(fs.readFileSync(TRAIN_PTH))).toBe(true);
    expect(fs.readdirSync(dir).sort()).toEqual(['model.pth', 'model.pth.json']);
  });

  test.each([
    ['.wts', 'file'],
    ['.pth', 'file'],
    ['.wts', 'folder'],
    ['.pth', 'folder'],
  ])('an existing <output>%s.json (a %s) stays as it was and the output is written', async (ext, kind) => {
    const dir = fs.mkdtempSync(path.join(root, 'side-'));
    const out = path.join(dir, `deploy${ext}`);
    if (kind === 'file') fs.writeFileSync(`${out}.json`, 'notes the user keeps');
    else fs.mkdirSync(`${out}.json`);
    const r = await cli([TRAIN_PTH, out, '--no-verify']);
    expect(r.code).toBe(0);
    if (kind === 'file') expect(fs.readFileSync(`${out}.json`, 'utf8')).toBe('notes the user keeps');
    else expect(fs.readdirSync(`${out}.json`)).toEqual([]);
    expect(fs.readdirSync(dir).sort()).toEqual([`deploy${ext}`, `deploy${ext}.json`]);
  });
});

describe('the check runs under limits, in a process Ctrl-C can stop', () => {
  const setUp = (bytes: Uint8Array) => modelBeside(root, bytes);
  /** Neither onnxruntime's coloured log nor any other escape byte reaches the terminal. */
  const quiet = (r: Run) => {
    expect(r.stderr).not.toMatch(/\u001b/);
    expect(r.stderr).not.toMatch(/onnxruntime::|\[E:onnxruntime/);
  };

  test.each([
    ['a tensor of 16000 x 16000 from a shape of two numbers (convert)', () => constantOfShape(16000), 'convert', /ConstantOfShape \(unnamed\) makes a tensor of \[16000, 16000\] \(977 MiB\), out of proportion with a \d+-byte model; the check does not run it/],
    ['a tensor of 60000 x 60000 (verify)', () => constantOfShape(60000), 'verify', /makes a tensor of \[60000, 60000\] \(13\.4 GiB\)/],
    ['a Loop of 2^40 iterations (convert)', () => loop(2n ** 40n, 'constant'), 'convert', /Loop \(unnamed\) runs 1099511627776 times \(its trip count is a constant\), far more work than a \d+-byte model needs/],
    ['a Loop of 2^40 iterations (bench)', () => loop(2n ** 40n, 'constant'), 'bench', /runs 1099511627776 times/],
  ])('refused before it runs: %s', async (_name, make, command, message) => {
    const s = setUp(make());
    const args = command === 'convert' ? [s.file, s.out] : [command, s.file, s.file];
    const r = await cli(args);
    oneLine(r);
    quiet(r);
    expect(r.stderr).toMatch(message);
    untouched(s);
  });

  test('a Loop whose trip count comes from the input is stopped at the time limit', async () => {
    const s = setUp(loop(2n ** 40n, 'input'));
    const r = await cli([s.file, s.out, '--time-limit', '2']);
    oneLine(r);
    quiet(r);
    expect(r.stderr).toMatch(/^error: the check was stopped after 2 s, its time limit, while running .*m\.onnx; a model that runs this long does far more work than its size suggests$/m);
    expect(r.stderr).toMatch(/fix: if the model is that slow, raise the limit: --time-limit SECONDS \(timeLimit\)/);
    untouched(s);
  });

  test('so is the benchmark', async () => {
    const s = setUp(loop(2n ** 40n, 'input'));
    const r = await cli(['bench', s.file, s.file, '--time-limit', '2']);
    oneLine(r);
    expect(r.stderr).toMatch(/the check was stopped after 2 s, its time limit, while running .*m\.onnx/);
  });

  (process.platform === 'linux' ? test : test.skip)('a tensor whose shape comes from the input is stopped at the memory limit', async () => {
    const s = setUp(constantOfShapeFromInput(16000));
    const r = await cli(['verify', s.file, s.file, '--memory-limit', '400']);
    oneLine(r);
    quiet(r);
    expect(r.stderr).toMatch(/^error: the check was stopped at \d+ MiB of memory, past its limit of 400 MiB, while running .*m\.onnx$/m);
  });

  test('a model onnxruntime loads but cannot run is named in one line, without its log', async () => {
    const s = setUp(reshapeFromInput());
    const r = await cli(['verify', s.file, s.file]);
    oneLine(r);
    quiet(r);
    expect(r.stderr).toMatch(/^error: onnxruntime cannot run .*m\.onnx: The input tensor cannot be reshaped to the requested shape\. Input shape:\{2\}, requested shape:\{3\}$/m);
  });

  test('Ctrl-C while onnxruntime is busy ends the run at once: exit 130, no onnxruntime process left, nothing staged', async () => {
    const s = setUp(loop(2n ** 40n, 'input'));
    const child = spawn(process.execPath, [BIN, s.file, s.out], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    // Interrupted once onnxruntime runs: its process is there and the staged output is.
    const host = await new Promise<number>((resolve) => {
      const poll = setInterval(() => {
        const pids = spawnSync('pgrep', ['-P', String(child.pid), '-f', 'ort-host-main'], { encoding: 'utf8' }).stdout.trim();
        if (pids) {
          clearInterval(poll);
          resolve(Number(pids.split('\n')[0]));
        }
      }, 50);
    });
    await new Promise((r) => setTimeout(r, 500));
    // The Loop would run for hours (the time limit is ten minutes): that the run ends at all is the proof.
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.on('close', r));
    expect({ code, stderr }).toEqual({ code: 130, stderr: 'interrupted by SIGINT; no output was written\n' });
    // killed at once; it may stay a zombie until whoever adopted it reaps it
    const state = () => (fs.existsSync(`/proc/${host}/stat`) ? fs.readFileSync(`/proc/${host}/stat`, 'latin1').replace(/^.*\) /, '')[0] : 'gone');
    if (process.platform === 'linux') expect(['gone', 'Z']).toContain(state());
    untouched(s);
  });
});
