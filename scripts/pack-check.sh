#!/usr/bin/env bash
# Packs the project and installs the tarball the way README.md tells a user on a machine that reaches
# only the npm registry (ONNXRUNTIME_NODE_INSTALL=skip on the install and npx lines), then uses it:
# help, a conversion, inspect piped to grep, the JSON report, the library, and npx without installing.
# Run after `npm ci`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$root"
tgz="$(npm pack --silent --pack-destination "$work" | tail -n 1)"
size=$(stat -c %s "$work/$tgz")
echo "pack-check: $tgz is $size bytes"
train="$root/fixtures/onnx/repvgg-bn/train.onnx"

mkdir "$work/app" && cd "$work/app"
npm init -y >/dev/null
ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund --loglevel=error "$work/$tgz" </dev/null
npx --no-install repvgg-convert -h | grep -q -- '--no-verify'
npx --no-install repvgg-convert "$train" deploy.onnx >convert.txt
grep -q 'PASSED' convert.txt && test -s deploy.onnx
npx --no-install repvgg-convert inspect "$train" | grep -q stage
npx --no-install repvgg-convert "$train" deploy2.onnx --json >report.json
node -e "const r=require('./report.json'); if(!r.ok||!r.verify.ok||r.tool.name!=='repvgg-convert') process.exit(1); console.log('pack-check: installed CLI converted and verified a model (max abs error', r.verify.outputs.output.maxAbsError + ')')"
node -e "const { convert, inspect } = require('repvgg-convert'); convert('$root/fixtures/onnx/repvgg-folded/train.onnx', 'lib.onnx').then(async (r) => { if (!r.verify.ok) process.exit(1); if (!(await inspect('lib.onnx')).blocks) process.exit(1); console.log('pack-check: library import works'); })"

# Once, without installing into a project.
mkdir "$work/once" && cd "$work/once"
ONNXRUNTIME_NODE_INSTALL=skip npx --yes --package="$work/$tgz" repvgg-convert "$train" once.onnx >/dev/null
test -s once.onnx
echo "pack-check: npx --package=$tgz converted a model without an install"
