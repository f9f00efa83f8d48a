#!/usr/bin/env node
// Conversion benchmark (not a test): generates a RepVGG training model with random weights (B3 size by
// default) in a temporary folder, then times each conversion as a child process against `cp` of the
// same input, and PyTorch when Debian's python3 has torch. A `floor` case (Node's start-up, then `dd` of
// the deploy ONNX's size with O_DIRECT and fsync) shows what no durable conversion can beat here.
//
//   npm run bench [-- --size b3|a0|... --runs N --keep --json --no-torch --no-verify-runs --dir DIR]
//   npm run bench -- --over-2gb    a model whose weights pass 2 GiB: conversion and verification with external data
//
// Wall times are medians over the runs; RSS is the peak of each child as the OS counts it. The cases run
// in rounds (each case once per round), and every run starts after `sync`, so write-back left by the
// previous run is not billed to the next.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { generate } = require('./gen-model');
const { measure, syncAll, HAS_TIME } = require('./lib/measure');
const { machine, load } = require('./lib/machine');
const { SIZES } = require('./lib/synthetic-repvgg');

const ROOT = path.join(__dirname, '..');
const CLI = path.join(ROOT, 'bin', 'repvgg-convert.js');
const PYTHON = '/usr/bin/python3';
const TORCH_SCRIPT = path.join(__dirname, 'torch_convert.py');
const TORCH_MODULES = path.join(__dirname, 'torch_module_convert.py');

function parseArgs(argv) {
  const o = { size: 'b3', runs: 3, keep: false, json: false, torch: true, verifyRuns: true, over2gb: false, dir: os.tmpdir() };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) fail(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--size') o.size = value();
    else if (a === '--runs') o.runs = Number(value());
    else if (a === '--dir') o.dir = value();
    else if (a === '--keep') o.keep = true;
    else if (a === '--json') o.json = true;
    else if (a === '--no-torch') o.torch = false;
    else if (a === '--no-verify-runs') o.verifyRuns = false;
    else if (a === '--over-2gb') o.over2gb = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write(fs.readFileSync(__filename, 'utf8').split('\n').slice(1, 8).map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
      process.exit(0);
    } else fail(`unknown option ${a}`);
  }
  if (!SIZES[o.size]) fail(`--size ${o.size} is not one of ${Object.keys(SIZES).join(', ')}`);
  if (!Number.isInteger(o.runs) || o.runs < 1) fail('--runs must be a positive integer');
  return o;
}

function fail(message) {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}

const say = (s) => process.stderr.write(`${s}\n`);
const mb = (b) => (b / 2 ** 20).toFixed(0);
const s = (ms) => (ms / 1000).toFixed(2);
const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};

function torchAvailable() {
  if (!fs.existsSync(PYTHON)) return false;
  return spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
}

/** One run of a case, from synced disks and a clean output folder. */
function runOnce(c, outDir, round, runs) {
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.mkdirSync(outDir);
  syncAll();
  const r = measure(c.cmd, c.args, { node: c.node });
  if (r.status !== 0) throw new Error(`${c.id} exited with ${r.status}:\n${r.stderr.slice(-2000)}`);
  let report = null;
  if (c.json) report = JSON.parse(r.stdout);
  else if (c.torch) report = JSON.parse(r.stdout.trim().split('\n').pop());
  say(`  ${c.id} run ${round + 1}/${runs}: ${s(r.wallMs)} s, peak RSS ${r.maxRssBytes === null ? '?' : `${mb(r.maxRssBytes)} MiB`}`);
  return { wallMs: r.wallMs, userMs: r.userMs, sysMs: r.sysMs, maxRssBytes: r.maxRssBytes, child: r.child, timings: report?.timings ?? (c.torch ? report : undefined) };
}

/** Medians of a case's runs. */
function summarize(c, samples, outDir) {
  fs.rmSync(outDir, { recursive: true, force: true });
  const pick = (f) => samples.map(f).filter((x) => typeof x === 'number');
  const med = (f) => (pick(f).length ? median(pick(f)) : null);
  const timingKeys = samples[0].timings ? Object.keys(samples[0].timings).filter((k) => typeof samples[0].timings[k] === 'number') : [];
  return {
    id: c.id,
    what: c.what,
    wallMs: med((x) => x.wallMs),
    wallMsMin: Math.min(...pick((x) => x.wallMs)),
    cpuMs: med((x) => (x.userMs === null ? null : x.userMs + x.sysMs)),
    maxRssBytes: pick((x) => x.maxRssBytes).length ? Math.max(...pick((x) => x.maxRssBytes)) : null,
    fsyncMs: med((x) => x.child?.fsyncMs),
    timings: Object.fromEntries(timingKeys.map((k) => [k, med((x) => x.timings[k])])),
    samples,
  };
}

function benchmark(o) {
  const work = fs.mkdtempSync(path.join(o.dir, `repvgg-bench-${o.size}-`));
  const out = path.join(work, 'out');
  const result = { size: o.size, runs: o.runs, machine: machine(work), loadBefore: load(), rssFrom: HAS_TIME ? '/usr/bin/time' : 'child maxRSS' };
  try {
    say(`generating ${o.size} in ${work} ...`);
    const gen = generate({ size: o.size, dir: work });
    result.parameters = gen.parameters;
    result.inputBytes = gen.bytes;
    result.generateMs = gen.ms;
    say(`  ${(gen.parameters / 1e6).toFixed(1)}M parameters; ${Object.entries(gen.bytes).map(([k, v]) => `${k} ${mb(v)} MiB`).join(', ')}`);

    const f = gen.files;
    // One untimed conversion: the floor below writes as many bytes as the deploy ONNX holds.
    fs.mkdirSync(out, { recursive: true });
    const first = spawnSync(process.execPath, [CLI, f.onnx, path.join(out, 'deploy.onnx'), '--no-verify', '-q'], { encoding: 'utf8' });
    if (first.status !== 0) throw new Error(`the first ONNX conversion exited with ${first.status}:\n${first.stderr.slice(-2000)}`);
    result.outputBytes = fs.statSync(path.join(out, 'deploy.onnx')).size;
    const node = (id, what, input, output, extra = []) => ({ id, what, cmd: process.execPath, args: [CLI, input, path.join(out, output), '--json', ...extra], node: true, json: true });
    const cases = [
      { id: 'cp', what: 'cp train.onnx (the I/O floor)', cmd: 'cp', args: ['--reflink=never', f.onnx, path.join(out, 'copy.onnx')] },
      { id: 'cp+sync', what: 'cp train.onnx, then sync the copy (our outputs are synced before rename)', cmd: 'sh', args: ['-c', 'cp --reflink=never "$0" "$1" && sync "$1"', f.onnx, path.join(out, 'copy.onnx')] },
      // What no converter run can beat here: Node's own start-up, then the output's bytes written durably.
      {
        id: 'floor',
        what: 'node -e 0, then dd of the deploy ONNX size with O_DIRECT and fsync',
        cmd: 'sh',
        args: ['-c', '"$0" -e 0 && dd if=/dev/zero of="$1" bs=4M count="$2" iflag=count_bytes oflag=direct conv=fsync status=none', process.execPath, path.join(out, 'floor.bin'), String(result.outputBytes)],
      },
      node('onnx', 'ONNX → ONNX, --no-verify', f.onnx, 'deploy.onnx', ['--no-verify']),
      node('pth-safetensors', '.pth → .safetensors, --no-verify', f.pth, 'deploy.safetensors', ['--no-verify']),
      node('safetensors-safetensors', '.safetensors → .safetensors, --no-verify', f.safetensors, 'deploy.safetensors', ['--no-verify']),
    ];
    if (o.torch && torchAvailable()) {
      cases.push({ id: 'torch-pth-safetensors', what: 'PyTorch: .pth → .safetensors (scripts/torch_convert.py)', cmd: PYTHON, args: [TORCH_SCRIPT, f.pth, path.join(out, 'deploy.safetensors')], torch: true });
      // The usual way: modules built, weights loaded, deep-copied, switched to deploy, saved; no check.
      cases.push({ id: 'torch-modules', what: 'PyTorch, the usual way: nn.Modules, switch_to_deploy, torch.save .pth (scripts/torch_module_convert.py), unchecked', cmd: PYTHON, args: [TORCH_MODULES, f.pth, path.join(out, 'official.pth')], torch: true });
    } else result.torchSkipped = o.torch ? `${PYTHON} with torch is not installed` : '--no-torch';
    if (o.verifyRuns) {
      cases.push(node('onnx-verify', 'ONNX → ONNX, verified', f.onnx, 'deploy.onnx'));
      cases.push(node('pth-safetensors-verify', '.pth → .safetensors, verified', f.pth, 'deploy.safetensors'));
    }
    // Rounds of every case in turn, not every run of one case together: a slow spell of the machine
    // (page-cache memory coming back from the host, a neighbour's load) then hits all cases alike.
    const samples = new Map(cases.map((c) => [c.id, []]));
    for (let round = 0; round < o.runs; round++) {
      say(`round ${round + 1} of ${o.runs}`);
      for (const c of cases) samples.get(c.id).push(runOnce(c, out, round, o.runs));
    }
    result.cases = {};
    for (const c of cases) result.cases[c.id] = summarize(c, samples.get(c.id), out);
    result.ratios = ratios(result);
    result.loadAfter = load();
    return result;
  } finally {
    if (o.keep) say(`kept ${work}`);
    else fs.rmSync(work, { recursive: true, force: true });
  }
}

function ratios(r) {
  const c = r.cases;
  const per = (id, input) => {
    const x = c[id];
    if (!x) return undefined;
    return {
      wallOverCp: x.wallMs / c.cp.wallMs,
      wallOverCpSync: x.wallMs / c['cp+sync'].wallMs,
      wallOverFloor: x.wallMs / c.floor.wallMs,
      peakRssOverInput: x.maxRssBytes === null ? null : x.maxRssBytes / r.inputBytes[input],
      torchOverOurs: c['torch-pth-safetensors'] && id !== 'onnx' ? c['torch-pth-safetensors'].wallMs / x.wallMs : undefined,
    };
  };
  const verify = (id, base) =>
    c[id] && { extraWallMs: c[id].wallMs - c[base].wallMs, verifyMs: c[id].timings.verifyMs, peakRssBytes: c[id].maxRssBytes };
  return {
    floorOverCp: c.floor.wallMs / c.cp.wallMs,
    onnx: per('onnx', 'onnx'),
    'pth-safetensors': per('pth-safetensors', 'pth'),
    'safetensors-safetensors': per('safetensors-safetensors', 'safetensors'),
    verify: { onnx: verify('onnx-verify', 'onnx'), 'pth-safetensors': verify('pth-safetensors-verify', 'pth-safetensors') },
    // The cost targets: a checked conversion against the usual unchecked PyTorch conversion.
    checkedVsTorch: Object.fromEntries(
      [['onnx-verify', 'onnx'], ['pth-safetensors-verify', 'pth']]
        .filter(([id]) => c[id] && c['torch-modules'])
        .map(([id, input]) => [id, { wallOverTorch: c[id].wallMs / c['torch-modules'].wallMs, peakRssOverInput: c[id].maxRssBytes === null ? null : c[id].maxRssBytes / r.inputBytes[input] }]),
    ),
  };
}

function render(r) {
  const m = r.machine;
  const lines = [
    `RepVGG-${r.size.toUpperCase()}-size model, ${(r.parameters / 1e6).toFixed(1)}M parameters; inputs ${Object.entries(r.inputBytes).map(([k, v]) => `${k} ${mb(v)} MiB`).join(', ')}`,
    `machine: ${m.cpus} cores (${m.cpuModel}), ${(m.memoryBytes / 2 ** 30).toFixed(0)} GiB, disk ${m.disk ? `${m.disk.source} ${m.disk.type}` : '?'}, Node ${m.node}`,
    `load before/after: ${r.loadBefore.loadavg[0]} / ${r.loadAfter.loadavg[0]}; CPU pressure avg60 ${r.loadBefore.cpuPressure?.avg60 ?? '?'}% / ${r.loadAfter.cpuPressure?.avg60 ?? '?'}%`,
    `${r.runs} run(s) each; wall = median (min), CPU = user + sys, RSS = peak over runs (${r.rssFrom})`,
    '',
  ];
  const rows = [['case', 'wall s', 'min s', 'CPU s', 'peak RSS MiB', 'fsync s', 'phases (median ms)']];
  for (const c of Object.values(r.cases)) {
    const phases = Object.entries(c.timings).filter(([k]) => k !== 'totalMs' && k !== 'tensorsOut' && !(k === 'verifyMs' && !c.timings[k])).map(([k, v]) => `${k.replace(/Ms$/, '')} ${v.toFixed(0)}`).join(', ');
    rows.push([c.id, s(c.wallMs), s(c.wallMsMin), c.cpuMs === null ? '?' : s(c.cpuMs), c.maxRssBytes === null ? '?' : mb(c.maxRssBytes), c.fsyncMs === null ? '' : s(c.fsyncMs), phases]);
  }
  const w = rows[0].map((_, i) => Math.max(...rows.map((x) => String(x[i]).length)));
  for (const row of rows) lines.push(row.map((x, i) => (i === 0 || i === row.length - 1 ? String(x).padEnd(w[i]) : String(x).padStart(w[i]))).join('  ').trimEnd());
  lines.push('');
  const x = (v) => (v === undefined || v === null ? '—' : `${v.toFixed(2)}×`);
  for (const [id, q] of Object.entries(r.ratios)) {
    if (id === 'verify' || id === 'floorOverCp' || id === 'checkedVsTorch' || !q) continue;
    lines.push(`${id}: wall ÷ cp ${x(q.wallOverCp)}, wall ÷ (cp + sync) ${x(q.wallOverCpSync)}, wall ÷ floor ${x(q.wallOverFloor)}, peak RSS ÷ input ${x(q.peakRssOverInput)}${q.torchOverOurs !== undefined ? `, PyTorch wall ÷ ours ${x(q.torchOverOurs)}` : ''}`);
  }
  lines.push(`floor ÷ cp ${x(r.ratios.floorOverCp)}: no run that starts Node and syncs its output can be faster than the floor (${mb(r.outputBytes)} MiB written)`);
  for (const [id, v] of Object.entries(r.ratios.verify)) {
    if (v) lines.push(`verification (${id}): +${s(v.extraWallMs)} s wall (verify phase ${s(v.verifyMs)} s), peak RSS ${mb(v.peakRssBytes)} MiB`);
  }
  for (const [id, v] of Object.entries(r.ratios.checkedVsTorch)) {
    lines.push(`${id} (checked) ÷ PyTorch the usual way (unchecked): wall ${x(v.wallOverTorch)} (target ≤ 0.50×), peak RSS ÷ input ${x(v.peakRssOverInput)} (target ≤ 1.50×)`);
  }
  if (r.torchSkipped) lines.push(`PyTorch comparison skipped: ${r.torchSkipped}`);
  return lines.join('\n');
}

/** --over-2gb: weights past protobuf's limit, converted and verified through external data. */
function over2gb(o) {
  const work = fs.mkdtempSync(path.join(o.dir, 'repvgg-bench-over2gb-'));
  const out = path.join(work, 'out');
  fs.mkdirSync(out);
  const result = { size: 'over2gb', machine: machine(work), loadBefore: load(), checks: {} };
  // A small image keeps the onnxruntime runs of verification short; the weights are what is large.
  const shape = [1, 3, 64, 64];
  try {
    say(`generating a model past 2 GiB in ${work} ...`);
    const gen = generate({ size: 'over2gb', dir: work, formats: ['safetensors', 'onnx'], inputShape: shape });
    result.parameters = gen.parameters;
    result.inputBytes = { ...gen.bytes, 'onnx.data': fileSize(`${gen.files.onnx}.data`) };
    result.generateMs = gen.ms;
    say(`  ${(gen.parameters / 1e6).toFixed(1)}M parameters; train.onnx ${mb(gen.bytes.onnx)} MiB + train.onnx.data ${mb(result.inputBytes['onnx.data'] ?? 0)} MiB`);
    check(result, 'train.onnx was written with external data', result.inputBytes['onnx.data'] > 2 ** 31);

    const runs = [
      { id: 'onnx', what: 'ONNX (external data) → ONNX, --no-verify', args: [gen.files.onnx, path.join(out, 'fast.onnx'), '--no-verify'], output: path.join(out, 'fast.onnx') },
      { id: 'onnx-verify', what: 'ONNX (external data) → ONNX, verified', args: [gen.files.onnx, path.join(out, 'deploy.onnx')], output: path.join(out, 'deploy.onnx') },
      { id: 'safetensors-onnx-verify', what: '.safetensors → ONNX built from the weights, verified', args: [gen.files.safetensors, path.join(out, 'ckpt.onnx'), '--input-shape', shape.join('x')], output: path.join(out, 'ckpt.onnx') },
    ];
    result.cases = {};
    for (const c of runs) {
      say(c.what);
      syncAll();
      const r = measure(process.execPath, [CLI, ...c.args, '--json'], { node: true });
      const report = r.stdout ? JSON.parse(r.stdout) : null;
      result.cases[c.id] = { wallMs: r.wallMs, maxRssBytes: r.maxRssBytes, exit: r.status, timings: report?.timings, verifyOk: report?.verify?.ok ?? null, modelBytes: fileSize(c.output), dataBytes: fileSize(`${c.output}.data`) };
      say(`  ${s(r.wallMs)} s, peak RSS ${mb(r.maxRssBytes ?? 0)} MiB, exit ${r.status}`);
      const verified = c.args.includes('--no-verify') || report?.verify?.ok === true;
      check(result, `${c.id}: exit 0${c.args.includes('--no-verify') ? '' : ' and verified'}`, r.status === 0 && verified, r.status === 0 ? undefined : r.stderr.slice(-2000));
      check(result, `${c.id}: model under 2 GiB with its data file beside it`, fileSize(c.output) < 2 ** 31 && fileSize(`${c.output}.data`) > 2 ** 31);
      const stray = fs.readdirSync(out).filter((n) => n.startsWith('.'));
      check(result, `${c.id}: no staging leftovers`, stray.length === 0, stray.join(', '));
    }
    result.loadAfter = load();
    result.ok = Object.values(result.checks).every((c) => c.ok);
    return result;
  } finally {
    if (o.keep) say(`kept ${work}`);
    else fs.rmSync(work, { recursive: true, force: true });
  }
}

function fileSize(p) {
  return fs.existsSync(p) ? fs.statSync(p).size : null;
}

function check(result, what, ok, detail) {
  result.checks[what] = { ok: !!ok, ...(detail ? { detail } : {}) };
  say(`  ${ok ? 'ok  ' : 'FAIL'} ${what}${!ok && detail ? `\n${detail}` : ''}`);
}

function main() {
  const o = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) fail('dist/ is missing: run npm run build first');
  if (o.over2gb) {
    const r = over2gb(o);
    if (o.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    process.exitCode = r.ok ? 0 : 1;
    return;
  }
  const r = benchmark(o);
  if (o.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  else process.stdout.write(`\n${render(r)}\n`);
}

main();
