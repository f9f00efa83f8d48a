#!/usr/bin/env node
// The long fuzz run, against the built library (dist/; run `npm run build` first):
//   node scripts/fuzz.js --cases 100000 --seed 1       seeds 1 .. 100000
//   node scripts/fuzz.js --replay 1234 --save m.bin    one case, its steps, and the mutated file
// Cases run in a worker thread; if one stops making progress for --stall seconds the run names its seed and
// stops. The mutators and the case runner are the suite's (test/fuzz/*.ts), compiled on the fly.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');

const ROOT = path.join(__dirname, '..');

function parseArgs(argv) {
  const args = { cases: 10000, seed: 1, replay: undefined, save: undefined, convertRate: 0.2, maxMs: 2000, stall: 30, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--cases') args.cases = Number(next());
    else if (a === '--seed') args.seed = Number(next());
    else if (a === '--replay') args.replay = Number(next());
    else if (a === '--save') args.save = next();
    else if (a === '--convert-rate') args.convertRate = Number(next());
    else if (a === '--max-ms') args.maxMs = Number(next());
    else if (a === '--stall') args.stall = Number(next());
    else if (a === '--json') args.json = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write(fs.readFileSync(__filename, 'utf8').split('\n').slice(1, 7).map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  for (const k of ['cases', 'seed', 'convertRate', 'maxMs', 'stall']) {
    if (!Number.isFinite(args[k])) throw new Error(`--${k} is not a number`);
  }
  return args;
}

/** Lets require() load the suite's TypeScript helpers (type-only syntax stripped, nothing checked). */
function registerTypeScript() {
  const ts = require('typescript');
  require.extensions['.ts'] = (module, filename) => {
    const out = ts.transpileModule(fs.readFileSync(filename, 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
      fileName: filename,
    });
    module._compile(out.outputText, filename);
  };
}

function library() {
  const dist = path.join(ROOT, 'dist');
  if (!fs.existsSync(path.join(dist, 'api', 'convert.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  const { convert } = require(path.join(dist, 'api', 'convert'));
  const { UserError, CheckFailedError } = require(path.join(dist, 'errors'));
  const { detectInputFormat } = require(path.join(dist, 'formats', 'registry'));
  const { renderConvert } = require(path.join(dist, 'cli', 'render'));
  const { classify } = require(path.join(dist, 'cli', 'exit'));
  const { printableText } = require(path.join(dist, 'formats', 'printable'));
  const { readOnnx } = require(path.join(dist, 'formats', 'onnx', 'read'));
  const { readPth } = require(path.join(dist, 'formats', 'pth'));
  const { readSafetensors } = require(path.join(dist, 'formats', 'safetensors'));
  const { tensorBytes } = require(path.join(dist, 'tensor'));
  return { detectInputFormat, readOnnx, readSafetensors, readPth, tensorBytes, convert, renderConvert, classify, printableText, UserError, CheckFailedError };
}

async function worker() {
  registerTypeScript();
  const { loadCorpus, prepareDir, runCase, BUGS } = require(path.join(ROOT, 'test', 'fuzz', 'harness.ts'));
  const { PWNED } = require(path.join(ROOT, 'test', 'fuzz', 'mutate.ts'));
  const { seeds, dir, options } = workerData;
  const lib = library();
  const corpus = loadCorpus(path.join(ROOT, 'fixtures'));
  prepareDir(dir);
  fs.rmSync(PWNED, { force: true });
  for (const seed of seeds) {
    parentPort.postMessage({ type: 'start', seed });
    const c = await runCase(lib, corpus, seed, { dir, ...options });
    parentPort.postMessage({ type: 'done', result: { ...c, bug: BUGS.has(c.outcome) } });
  }
  parentPort.postMessage({ type: 'end' });
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  registerTypeScript();
  const { describeFailure } = require(path.join(ROOT, 'test', 'fuzz', 'harness.ts'));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'repvgg-fuzz-'));
  const seeds = args.replay !== undefined ? [args.replay] : Array.from({ length: args.cases }, (_, i) => args.seed + i);
  const options = { convertRate: args.convertRate, maxMs: args.maxMs, saveTo: args.save };
  const w = new Worker(__filename, { workerData: { seeds, dir, options } });
  const stats = { cases: 0, accepted: 0, refused: 0, converted: 0, convertedAccepted: 0, leaked: 0, bugs: [], slowest: { ms: 0, seed: 0 } };
  let started; // when the first case starts (worker start-up and corpus loading excluded)
  let current;
  let lastProgress = Date.now();
  let lastReport = Date.now();
  let exitCode = 0;

  const finish = () => {
    clearInterval(timer);
    fs.rmSync(dir, { recursive: true, force: true });
    const seconds = started === undefined ? 0 : (Date.now() - started) / 1000;
    const summary = { ...stats, bugs: stats.bugs.length, seconds: Number(seconds.toFixed(1)), casesPerSecond: seconds ? Number((stats.cases / seconds).toFixed(1)) : 0, firstSeed: seeds[0], lastSeed: seeds[seeds.length - 1] };
    if (args.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    else {
      process.stdout.write(
        `${stats.cases} cases in ${seconds.toFixed(1)} s (${summary.casesPerSecond}/s): ${stats.accepted} accepted, ${stats.refused} refused, ` +
          `${stats.converted} through convert (${stats.convertedAccepted} accepted), ${stats.bugs.length} bugs; ` +
          `slowest seed ${stats.slowest.seed} (${stats.slowest.ms.toFixed(0)} ms); ${stats.leaked} descriptor(s) left open by convert\n`,
      );
    }
    process.exitCode = exitCode || (stats.bugs.length ? 1 : 0);
  };

  // A case that never returns (a loop, a huge allocation) stops progress; name it and stop.
  const timer = setInterval(() => {
    if (current !== undefined && Date.now() - lastProgress > args.stall * 1000) {
      process.stderr.write(`seed ${current} made no progress for ${args.stall} s (hang?); replay: node scripts/fuzz.js --replay ${current}\n`);
      exitCode = 1;
      w.terminate();
    } else if (!args.json && Date.now() - lastReport > 10000) {
      lastReport = Date.now();
      process.stderr.write(`… ${stats.cases}/${seeds.length} cases, ${stats.bugs.length} bugs\n`);
    }
  }, 1000);

  w.on('message', (m) => {
    lastProgress = Date.now();
    if (m.type === 'start') {
      current = m.seed;
      started ??= Date.now();
    } else if (m.type === 'done') {
      const c = m.result;
      stats.cases++;
      if (c.outcome === 'accepted') stats.accepted++;
      if (c.outcome === 'refused') stats.refused++;
      if (c.converted) stats.converted++;
      if (c.converted && c.outcome === 'accepted') stats.convertedAccepted++;
      stats.leaked += c.leaked;
      if (c.ms > stats.slowest.ms) stats.slowest = { ms: c.ms, seed: c.seed };
      if (c.bug || args.replay !== undefined) {
        if (c.bug) stats.bugs.push(c.seed);
        process.stderr.write(`${describeFailure(c)}\n\n`);
      }
    }
  });
  w.on('error', (e) => {
    process.stderr.write(`seed ${current}: the worker died: ${e.stack || e}\n  replay: node scripts/fuzz.js --replay ${current}\n`);
    exitCode = 1;
  });
  w.on('exit', finish);
}

if (isMainThread) {
  main().catch((e) => {
    process.stderr.write(`${e.message}\n`);
    process.exitCode = 2;
  });
} else {
  worker().catch((e) => {
    throw e;
  });
}
