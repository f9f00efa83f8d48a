// What a run loads: a --no-verify conversion (CLI or library) must not load onnxruntime or the other
// commands, and must work where onnxruntime-node cannot be loaded at all; a command
// that needs the runtime then says so (exit 2). Each case runs the built entry points in a child
// process in which requiring the listed packages fails, and reports the modules it loaded.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { FIXTURES, caseDir, tempDir } from '../helpers/fixtures';

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'repvgg-convert.js');
const LIBRARY = path.join(ROOT, 'dist', 'index.js');

// Runs in the child: argv = [blocked packages (JSON), list file, 'cli' | 'library', ...args].
const CHILD = `
const fs = require('fs');
const Module = require('module');
const [blocked, listFile, mode, ...args] = process.argv.slice(1);
const refused = JSON.parse(blocked);
const load = Module._load;
Module._load = function (request, ...rest) {
  if (refused.includes(request)) throw new Error("Cannot find module '" + request + "'");
  return load.call(this, request, ...rest);
};
process.on('exit', () => fs.writeFileSync(listFile, JSON.stringify(Object.keys(require.cache))));
if (mode === 'cli') {
  process.argv = [process.execPath, ${JSON.stringify(BIN)}, ...args];
  require(${JSON.stringify(BIN)});
} else {
  require(${JSON.stringify(LIBRARY)}).convert(args[0], args[1], { verify: false }).then(
    (r) => process.stdout.write(JSON.stringify({ bytesWritten: r.bytesWritten, verify: r.verify ?? null })),
    (e) => { process.stderr.write(String(e && e.stack)); process.exitCode = 3; },
  );
}
`;

const RUNTIME = ['onnxruntime-node', 'onnxruntime-common'];

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Loaded module files, relative to the package root ('node_modules/…', 'dist/…'). */
  readonly loaded: readonly string[];
}

describe('start-up: what a run loads', () => {
  const dir = tempDir();
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  let runs = 0;

  function run(mode: 'cli' | 'library', blocked: readonly string[], ...args: string[]): Run {
    const list = path.join(dir, `loaded-${runs++}.json`);
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
    delete env.NODE_OPTIONS;
    const r = spawnSync(process.execPath, ['-e', CHILD, JSON.stringify(blocked), list, mode, ...args], { encoding: 'utf8', env });
    const files = fs.existsSync(list) ? (JSON.parse(fs.readFileSync(list, 'utf8')) as string[]) : [];
    const loaded = files.map((f) => path.relative(ROOT, f).split(path.sep).join('/'));
    return { code: r.status, stdout: r.stdout, stderr: r.stderr, loaded };
  }

  const under = (r: Run, prefix: string) => r.loaded.filter((f) => f.startsWith(prefix));
  const train = path.join(caseDir('repvgg-bn'), 'train.onnx');
  const deployRef = path.join(caseDir('repvgg-bn'), 'deploy_ref.onnx');

  // The option tables --help and the parser read: data only (api/option-kinds.js, bench/defaults.js).
  const TABLES = ['dist/api/option-kinds.js', 'dist/bench/defaults.js'];
  const code = (r: Run) => r.loaded.filter((f) => !TABLES.includes(f));

  function expectNothingUnneeded(r: Run): void {
    expect(under(r, 'node_modules/onnxruntime-')).toEqual([]);
    expect(code(r).filter((f) => f.startsWith('dist/bench/'))).toEqual([]);
    expect(under(r, 'dist/inspect/')).toEqual([]);
    expect(r.loaded.filter((f) => /^dist\/cli\/commands\/(bench|inspect|verify)\.js$/.test(f))).toEqual([]);
    expect(r.loaded).not.toContain('dist/verify/verify.js');
  }

  test('the child sees the built package and reports what it loaded', () => {
    // A plain conversion with nothing refused loads the runtime, which shows the report can see it.
    const r = run('cli', [], train, path.join(dir, 'verified.onnx'));
    expect(r.stdout).toMatch(/PASSED/);
    expect(r.code).toBe(0);
    expect(r.loaded).toContain('dist/cli/main.js');
    expect(under(r, 'node_modules/onnxruntime-node/').length).toBeGreaterThan(0);
  });

  test('CLI: ONNX --no-verify conversion runs without onnxruntime and loads only the convert command', () => {
    const out = path.join(dir, 'deploy.onnx');
    const r = run('cli', RUNTIME, train, out, '--no-verify');
    expect(r.stdout).toMatch(/verify: skipped/);
    expect(r.code).toBe(0);
    expect(fs.statSync(out).size).toBeGreaterThan(0);
    expect(r.loaded).toContain('dist/cli/commands/convert.js');
    expectNothingUnneeded(r);
  });

  test('CLI: checkpoint --no-verify conversion runs without onnxruntime', () => {
    const out = path.join(dir, 'deploy.safetensors');
    const r = run('cli', RUNTIME, path.join(FIXTURES, 'ckpt', 'official', 'train.safetensors'), out, '--no-verify');
    expect(r.code).toBe(0);
    expect(fs.statSync(out).size).toBeGreaterThan(0);
    expectNothingUnneeded(r);
  });

  test('library: convert(…, { verify: false }) runs without onnxruntime', () => {
    const out = path.join(dir, 'library.onnx');
    const r = run('library', RUNTIME, train, out);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ bytesWritten: fs.statSync(out).size, verify: null });
    expectNothingUnneeded(r);
  });

  test('--version and --help load no command but the default one', () => {
    for (const flag of ['--version', '--help']) {
      const r = run('cli', RUNTIME, flag);
      expect(r.code).toBe(0);
      expect(r.stdout.length).toBeGreaterThan(0);
      expectNothingUnneeded(r);
      expect(code(r).filter((f) => f.startsWith('dist/api/') || f.startsWith('dist/cli/commands/'))).toEqual([]);
    }
  });

  test('inspect loads neither onnxruntime nor the other commands', () => {
    const r = run('cli', RUNTIME, 'inspect', train);
    expect(r.code).toBe(0);
    expect(under(r, 'node_modules/onnxruntime-')).toEqual([]);
    expect(code(r).filter((f) => f.startsWith('dist/bench/'))).toEqual([]);
    expect(r.loaded.filter((f) => /^dist\/cli\/commands\/(bench|verify)\.js$/.test(f))).toEqual([]);
  });

  test('a check that needs onnxruntime-node, where it cannot load, is a missing runtime (exit 2)', () => {
    const verify = run('cli', RUNTIME, 'verify', train, deployRef);
    expect(verify.code).toBe(2);
    expect(verify.stderr).toMatch(/^error: onnxruntime-node cannot be loaded: Cannot find module 'onnxruntime-node'/m);
    expect(verify.stderr).toMatch(/fix: .*--no-verify/);

    const out = path.join(dir, 'unverified.onnx');
    const convert = run('cli', RUNTIME, train, out);
    expect(convert.code).toBe(2);
    expect(convert.stderr).toMatch(/onnxruntime-node cannot be loaded/);
    expect(fs.existsSync(out)).toBe(false);
  });
});
