#!/usr/bin/env node
// Times the command line on graphs built to be large: a chain of n Relu nodes, and n Relu nodes all
// reading one value (only one of them live, so cleanup removes the rest). Each model is written with
// the project's own writer (built dist/), then converted with --no-verify in a child process; wall
// time and peak RSS are printed per case. Run it on a quiet machine: the numbers are wall-clock.
//   node scripts/graph-scale.js [--chain 100000,524288,1000000] [--fanout 50000,200000] [--dir /tmp/graph-scale]
'use strict';

const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const dist = (m) => require(path.join(__dirname, '..', 'dist', m));

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

function build(kind, n, file) {
  const { Graph } = dist('ir/graph');
  const { newOnnxModel } = dist('formats/onnx/build');
  const { writeOnnx } = dist('formats/onnx/write');
  const g = new Graph();
  const x = g.ensureValue('x');
  g.addGraphInput(x);
  let out;
  if (kind === 'chain') {
    out = x;
    for (let i = 0; i < n; i++) out = g.insertNode({ opType: 'Relu', name: `r${i}`, inputs: [out], outputs: [`v${i}`] }).outputs[0];
  } else {
    for (let i = 0; i < n; i++) {
      const y = g.insertNode({ opType: 'Relu', name: `r${i}`, inputs: [x], outputs: [`v${i}`] }).outputs[0];
      out ??= y;
    }
  }
  g.addGraphOutput(out);
  const signature = (name) => ({ name, elemType: 1, dims: [1, 4] });
  writeOnnx(file, newOnnxModel(g, { graphName: kind, opset: 13, inputs: [signature('x')], outputs: [signature(out.name)] }));
}

function run(file, dir) {
  const bin = path.join(__dirname, '..', 'bin', 'repvgg-convert.js');
  const script = `const t=performance.now();const r=require('child_process').spawnSync(process.execPath,[${JSON.stringify(bin)},${JSON.stringify(file)},${JSON.stringify(path.join(dir, 'out.onnx'))},'--no-verify','--quiet']);` +
    `console.log(JSON.stringify({code:r.status,ms:performance.now()-t,stderr:String(r.stderr).split('\\n')[0]}))`;
  // /usr/bin/time -f %M gives the child's peak RSS where it exists.
  const timed = fs.existsSync('/usr/bin/time');
  const r = timed
    ? spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, '-e', script], { encoding: 'utf8' })
    : spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  const result = JSON.parse(r.stdout.trim());
  const rssKb = timed ? Number(r.stderr.trim().split('\n').pop()) : NaN;
  return { ...result, rssMb: rssKb / 1024 };
}

const dir = arg('dir', fs.mkdtempSync(path.join(os.tmpdir(), 'graph-scale-')));
fs.mkdirSync(dir, { recursive: true });
const cases = [
  ...arg('chain', '100000,524288,1000000').split(',').map((n) => ['chain', Number(n)]),
  ...arg('fanout', '50000,200000').split(',').map((n) => ['fanout', Number(n)]),
];
for (const [kind, n] of cases) {
  const file = path.join(dir, `${kind}-${n}.onnx`);
  build(kind, n, file);
  const r = run(file, dir);
  const mb = (fs.statSync(file).size / 2 ** 20).toFixed(1);
  console.log(`${kind.padEnd(6)} ${String(n).padStart(8)} nodes ${mb.padStart(6)} MB: exit ${r.code}, ${(r.ms / 1000).toFixed(2)} s, peak ${r.rssMb.toFixed(0)} MB${r.code ? `  (${r.stderr})` : ''}`);
  fs.rmSync(file);
}
fs.rmSync(dir, { recursive: true, force: true });
