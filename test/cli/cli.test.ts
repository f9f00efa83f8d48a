// The command line as users run it: exit codes, where text goes, and what is (not) written.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { caseDir, tempDir } from '../helpers/fixtures';
import { rawInitializers } from '../verify/helpers/onnx-initializers';
import { webgpuTest } from '../helpers/webgpu';

const BIN = path.join(__dirname, '..', '..', 'bin', 'repvgg-convert.js');
const ROOT = path.join(__dirname, '..', '..');

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const train = path.join(caseDir('repvgg-bn'), 'train.onnx');
const deployRef = path.join(caseDir('repvgg-bn'), 'deploy_ref.onnx');

describe('repvgg-convert CLI', () => {
  const dir = tempDir();
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('--help shows commands, examples, tolerances and exit codes', () => {
    const r = cli('--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Examples:/);
    expect(r.stdout).toMatch(/verify <reference> <candidate>/);
    expect(r.stdout).toMatch(/--atol \(default 0\.0001; FP16 0\.25\)/);
    expect(r.stdout).toMatch(/Exit codes: 0 success, 1 the models differ, 2 bad input or usage/);
  });

  test('-h is help; no arguments is a short usage on stderr (exit 2); -v alone and --version print the version', () => {
    const h = cli('-h');
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/--no-verify/);
    expect(h.stdout).toMatch(/repvgg-convert verify --help/);
    const bare = cli();
    expect(bare.code).toBe(2);
    expect(bare.stdout).toBe('');
    expect(bare.stderr).toMatch(/^Usage: repvgg-convert <input> <output> \[options\]$/m);
    expect(bare.stderr).toMatch(/^ {2}repvgg-convert train\.onnx deploy\.onnx$/m);
    const version = require('../../package.json').version;
    expect(cli('-v').stdout).toBe(`${version}\n`);
    expect(cli('--version').stdout).toBe(`${version}\n`);
  });

  test('inspect prints its report on stdout, so it can be piped; -q keeps the report', () => {
    const r = cli('inspect', path.join(caseDir('repvgg-bn'), 'train.onnx'), '-q');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').filter((l) => /stage/.test(l)).length).toBeGreaterThan(5);
    expect(r.stderr).toBe('');
  });

  test('an option that does not apply warns on stderr and the run goes on', () => {
    const out = path.join(dir, 'warned.onnx');
    const r = cli(train, out, '--scheme', 'timm', '--keep-io-types', '--max-batch', '4', '--no-verify', '--samples', '3', '--json=true');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).ok).toBe(true);
    const warnings = r.stderr.trimEnd().split('\n');
    expect(warnings).toEqual([
      expect.stringMatching(/^warning: --scheme \(scheme\) applies only to checkpoint inputs .*train\.onnx is an ONNX model/),
      expect.stringMatching(/^warning: --keep-io-types \(keepIoTypes\) applies only with --dtype fp16/),
      expect.stringMatching(/^warning: --max-batch \(maxBatch\) applies only to TensorRT outputs with --dynamic-batch/),
      expect.stringMatching(/^warning: --samples sets the check, which --no-verify \(verify: false\) skips/),
    ]);
  });

  test('convert: the report on stdout, or with --json the JSON document instead; output written', () => {
    const out = path.join(dir, 'deploy.onnx');
    const r = cli(train, out, '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.ok).toBe(true);
    expect(j.verify.ok).toBe(true);
    expect(j.verify.ep).toBe('cpu');
    expect(j.opsAfter).toEqual({ Conv: 8, Flatten: 1, Gemm: 1, GlobalAveragePool: 1, Relu: 8 });
    expect(j.merged).toEqual({ 'RepVGG 2-branch': 5, 'RepVGG 3-branch': 3 });
    expect(j.tool).toEqual({ name: 'repvgg-convert', version: require('../../package.json').version });
    // --json replaces the text report: nothing of it on either stream.
    expect(r.stderr).not.toMatch(/BatchNormalization|PASSED/);
    expect(fs.existsSync(out)).toBe(true);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const text = cli(train, out);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/BatchNormalization\s+19\s+0/);
    expect(text.stdout).toMatch(/PASSED/);
    expect(text.stderr).toBe('');
  });

  test('verify --json passes on a true pair', () => {
    const r = cli('verify', train, deployRef, '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ ok: true, ep: 'cpu', seed: 0, samples: 1 });
    expect(j.outputs.output.maxAbsError).toBeLessThan(1e-4);
  });

  test('verify exits 1 with ok: false when one weight of the deploy model changed', () => {
    const bytes = new Uint8Array(fs.readFileSync(deployRef));
    const w = rawInitializers(bytes).find((i) => i.dims.length === 4)!;
    const dv = new DataView(bytes.buffer, bytes.byteOffset + w.offset, 4);
    dv.setFloat32(0, dv.getFloat32(0, true) + 0.5, true);
    const bad = path.join(dir, 'changed.onnx');
    fs.writeFileSync(bad, bytes);
    const r = cli('verify', train, bad, '--json');
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).ok).toBe(false);
    expect(r.stderr).toMatch(/^check failed: /);
    const text = cli('verify', train, bad);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/FAIL/);
    expect(text.stderr).toMatch(/^check failed: /);
  });

  test.each([
    ['a truncated model', () => {
      const f = path.join(dir, 'truncated.onnx');
      fs.writeFileSync(f, fs.readFileSync(train).subarray(0, 4000));
      return f;
    }, /is not an ONNX model/],
    ['an empty file', () => {
      const f = path.join(dir, 'empty.onnx');
      fs.writeFileSync(f, '');
      return f;
    }, /empty/],
    ['text', () => {
      const f = path.join(dir, 'text.onnx');
      fs.writeFileSync(f, 'this is not a model\n'.repeat(10));
      return f;
    }, /is not an ONNX model/],
    ['a directory', () => dir, /is a directory/],
    ['a missing file', () => path.join(dir, 'nope.onnx'), /does not exist/],
  ])('refuses %s with exit 2, one message, no stack, no output', (_what, make, message) => {
    const input = make();
    const out = path.join(dir, 'refused.onnx');
    const r = cli(input, out);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(fs.existsSync(out)).toBe(false);
  });

  test('refuses to overwrite the input and leaves an existing output untouched on failure', () => {
    const copy = path.join(dir, 'copy.onnx');
    fs.copyFileSync(train, copy);
    expect(cli(copy, copy).code).toBe(2);
    expect(Buffer.compare(fs.readFileSync(copy), fs.readFileSync(train))).toBe(0);
    const existing = path.join(dir, 'existing.onnx');
    fs.writeFileSync(existing, 'keep me');
    const truncated = path.join(dir, 't2.onnx');
    fs.writeFileSync(truncated, fs.readFileSync(train).subarray(0, 3000));
    expect(cli(truncated, existing).code).toBe(2);
    expect(fs.readFileSync(existing, 'utf8')).toBe('keep me');
  });

  test("onnxruntime's own warnings stay out of the report (initializers listed as graph inputs)", () => {
    // Before, onnxruntime logged a warning line per weight of such a model, past --quiet too.
    const out = path.join(dir, 'init-inputs.onnx');
    const r = cli(path.join(caseDir('repvgg-init-inputs-bn'), 'train.onnx'), out, '--quiet');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/PASSED/);
    const loud = cli(path.join(caseDir('repvgg-init-inputs-bn'), 'train.onnx'), out);
    expect(loud.stdout).toMatch(/PASSED/);
    expect(loud.stdout + loud.stderr).not.toMatch(/appears in graph inputs|onnxruntime:/);
  });

  test('a model exported without its weights is refused, saying how to export it', () => {
    const out = path.join(dir, 'no-weights.onnx');
    const r = cli(path.join(ROOT, 'fixtures', 'bad', 'no-weights.onnx'), out);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: \S*no-weights\.onnx has no weights to merge: every Conv weight \(16\) is a graph input, not a constant\n  fix: export the model with its parameters \(torch\.onnx\.export with export_params=True, the default\)\n$/);
    expect(fs.existsSync(out)).toBe(false);
  });

  test('an output path that is a device is refused up front, and the device stays', () => {
    // As root, a rename over /dev/null would have replaced the device with the model.
    const r = cli(train, '/dev/null', '--to', 'onnx', '--no-verify');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: cannot write \/dev\/null: it is a character device, not a regular file/);
    expect(r.stderr).toMatch(/fix: name a regular file/);
    expect(r.stderr).not.toMatch(/reading|merged/);
    if (process.platform === 'linux') expect(fs.statSync('/dev/null').isCharacterDevice()).toBe(true);
  });

  test('--json: a run that fails before its report prints the error as JSON on stdout', () => {
    const bad = path.join(ROOT, 'fixtures', 'bad', 'truncated.onnx');
    const r = cli(bad, path.join(dir, 'never.onnx'), '--json');
    expect(r.code).toBe(2);
    const j = JSON.parse(r.stdout);
    expect(j).toEqual({ tool: { name: 'repvgg-convert', version: expect.any(String) }, ok: false, exitCode: 2, error: { code: 'BAD_INPUT', message: expect.stringMatching(/truncated\.onnx is not an ONNX model \(.* at byte 20\)$/) } });
    expect(r.stderr).toMatch(/^error: /);
    const usage = cli(train, '--json');
    expect(JSON.parse(usage.stdout)).toMatchObject({ ok: false, exitCode: 2, error: { code: 'BAD_USAGE', message: expect.stringMatching(/^missing <output>/), hint: expect.stringMatching(/for example: repvgg-convert train\.onnx deploy\.onnx/) } });
    // Without --json, stdout stays empty.
    expect(cli(bad, path.join(dir, 'never.onnx')).stdout).toBe('');
  });

  test('usage errors exit 2', () => {
    expect(cli(train).code).toBe(2);
    expect(cli(train, path.join(dir, 'x.unknown')).code).toBe(2);
    expect(cli(train, path.join(dir, 'x.onnx'), '--no-such-flag').code).toBe(2);
    const r = cli(train, path.join(dir, 'x.onnx'), '--input-shape', '1xAx3');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not a shape/);
  });

  test('--verbose prints why a block was left unmerged', () => {
    const r = cli(path.join(caseDir('detect-bn'), 'train.onnx'), path.join(dir, 'det.onnx'), '--verbose', '--no-verify');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/merge-block at Add .*: /);
    expect(r.stdout).toMatch(/verify: skipped/);
  });
});

describe('verify on the GPU', () => {
  const gpuTest = webgpuTest();
  gpuTest('--ep webgpu --compare-eps names the provider and passes every combination', () => {
    const r = cli('verify', train, deployRef, '--ep', 'webgpu', '--compare-eps', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.ep).toBe('webgpu');
    expect(j.device.name).toBeTruthy();
    expect(j.comparisons.map((c: { label: string; report: { ok: boolean } }) => [c.label, c.report.ok])).toEqual([
      ['deploy on cpu vs train on cpu', true],
      ['train on webgpu vs train on cpu', true],
    ]);
  });
});

test('bench prints both latencies and the ratio, and --json holds them', () => {
  const r = cli('bench', train, deployRef, '--runs', '3', '--warmup', '1', '--json');
  expect(r.code).toBe(0);
  const j = JSON.parse(r.stdout);
  expect(j.train.p50Ms).toBeGreaterThan(0);
  expect(j.deploy.p50Ms).toBeGreaterThan(0);
  expect(j.speedup).toBeCloseTo(j.train.p50Ms / j.deploy.p50Ms, 6);
  const text = cli('bench', train, deployRef, '--runs', '3', '--warmup', '1');
  expect(text.stdout).toMatch(/train .* ms[\s\S]*deploy .* ms[\s\S]*speedup \d+\.\d+x/);
  // -q silences progress and notes, never the report.
  expect(cli('bench', train, deployRef, '--runs', '2', '--warmup', '0', '-q').stdout).toMatch(/speedup/);
  expect(cli('bench', train, deployRef, '--runs', '0').code).toBe(2);
});

test('a signal handled after an output was committed says the output is kept, not that nothing was written', () => {
  // A signal arriving during a synchronous write is handled once the write is done; onSignal runs then.
  const dir = tempDir();
  const out = path.join(dir, 'w.bin');
  const script = `
    const files = require(${JSON.stringify(path.join(ROOT, 'dist/formats/atomic-file.js'))});
    const { onSignal } = require(${JSON.stringify(path.join(ROOT, 'dist/cli/main.js'))});
    if (process.argv[1] === 'commit') files.writeFileAtomic(${JSON.stringify(out)}, (sink) => sink.write(Uint8Array.of(1, 2, 3)));
    onSignal('SIGINT');`;
  const kept = spawnSync(process.execPath, ['-e', script, 'commit'], { encoding: 'utf8' });
  expect(kept.status).toBe(130);
  expect(kept.stderr).toContain(`interrupted by SIGINT; ${out} had already been written in full and is kept`);
  expect(fs.readFileSync(out)).toEqual(Buffer.from([1, 2, 3]));
  const none = spawnSync(process.execPath, ['-e', script, 'none'], { encoding: 'utf8' });
  expect(none.status).toBe(130);
  expect(none.stderr).toBe('interrupted by SIGINT; no output was written\n');
  fs.rmSync(dir, { recursive: true, force: true });
});
