#!/usr/bin/env node
// Writes a synthetic RepVGG training model of a given size with the project's own writers (built dist/):
// train.safetensors, train.pth and the training-time train.onnx (BN kept, built from the weights).
//   node scripts/gen-model.js --size b3 --out /tmp/b3 [--seed 1] [--formats safetensors,pth,onnx]
'use strict';

const fs = require('fs');
const path = require('path');
const { lazyStateDict, parameterCount } = require('./lib/synthetic-repvgg');

function dist(module) {
  const file = path.join(__dirname, '..', 'dist', module);
  if (!fs.existsSync(`${file}.js`) && !fs.existsSync(path.join(file, 'index.js'))) throw new Error(`${file} is missing: run npm run build first`);
  return require(file);
}

/**
 * Writes the model files into `dir` and returns their paths and how long each took. safetensors is written
 * first from the generated values; .pth and ONNX are then written from its file ranges, so nothing is
 * generated twice and no step holds more than one tensor.
 */
function generate({ size, dir, seed = 1, formats = ['safetensors', 'pth', 'onnx'], inputShape }) {
  const { writeSafetensors, readSafetensors } = dist('formats/safetensors');
  const { writePth } = dist('formats/pth');
  const { writeOnnx } = dist('formats/onnx/write');
  const { inferArchitecture, buildTrainOnnx } = dist('checkpoint');
  fs.mkdirSync(dir, { recursive: true });
  const files = { safetensors: path.join(dir, 'train.safetensors'), pth: path.join(dir, 'train.pth'), onnx: path.join(dir, 'train.onnx') };
  const ms = {};
  let t = performance.now();
  writeSafetensors(files.safetensors, lazyStateDict(size, seed), { format: 'pt' });
  ms.safetensors = performance.now() - t;
  const sd = readSafetensors(files.safetensors);
  try {
    if (formats.includes('pth')) {
      t = performance.now();
      writePth(files.pth, sd.tensors);
      ms.pth = performance.now() - t;
    }
    if (formats.includes('onnx')) {
      t = performance.now();
      const arch = inferArchitecture(sd, { scheme: 'official' });
      // Past 2 GiB the writer puts the weights in train.onnx.data by itself.
      writeOnnx(files.onnx, buildTrainOnnx(arch, sd, { inputShape }));
      ms.onnx = performance.now() - t;
    }
  } finally {
    for (const s of new Set([...sd.tensors.values()].map((x) => x.data.range?.source))) s?.close();
  }
  const out = { size, parameters: parameterCount(size), files: {}, bytes: {}, ms };
  for (const f of ['safetensors', ...formats.filter((x) => x !== 'safetensors')]) {
    out.files[f] = files[f];
    out.bytes[f] = fs.statSync(files[f]).size;
  }
  if (!formats.includes('safetensors')) {
    fs.rmSync(files.safetensors);
    delete out.files.safetensors;
    delete out.bytes.safetensors;
  }
  return out;
}

module.exports = { generate };

if (require.main === module) {
  const args = process.argv.slice(2);
  const opt = (name, dflt) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : dflt;
  };
  const dir = opt('out');
  if (!dir) {
    console.error('usage: node scripts/gen-model.js --size b3 --out DIR [--seed 1] [--formats safetensors,pth,onnx]');
    process.exit(2);
  }
  const r = generate({ size: opt('size', 'b3'), dir, seed: Number(opt('seed', '1')), formats: opt('formats', 'safetensors,pth,onnx').split(',') });
  console.log(JSON.stringify(r, null, 2));
}
