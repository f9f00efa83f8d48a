#!/usr/bin/env bash
# Packs the project, installs the tarball into an empty folder as a user would, and converts and
# verifies a fixture with the installed `repvgg-convert`. Run after `npm ci`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$root"
tgz="$(npm pack --silent --pack-destination "$work" | tail -n 1)"
size=$(stat -c %s "$work/$tgz")
echo "pack-check: $tgz is $size bytes"
mkdir "$work/app" && cd "$work/app"
npm init -y >/dev/null
ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund --prefer-offline --loglevel=error "$work/$tgz" </dev/null
npx --no-install repvgg-convert --help >/dev/null
npx --no-install repvgg-convert "$root/fixtures/onnx/repvgg-bn/train.onnx" deploy.onnx --json >report.json
node -e "const r=require('./report.json'); if(!r.ok||!r.verify.ok) process.exit(1); console.log('pack-check: installed CLI converted and verified a model (max abs error', r.verify.outputs.output.maxAbsError + ')')"
node -e "const { convert } = require('repvgg-convert'); convert('$root/fixtures/onnx/repvgg-folded/train.onnx', 'lib.onnx').then(r => { if (!r.verify.ok) process.exit(1); console.log('pack-check: library import works'); })"
