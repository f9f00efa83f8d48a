// Names from a file never reach the terminal as control sequences: a model whose every name (producer,
// graph, nodes, values, initializers, an op type) carries an OSC title sequence, a clear-screen and a
// "\r\nFAKE: PASSED" line goes through inspect, convert (plain and --verbose), verify (passing and
// failing) and bench; no escape byte, BEL or bare carriage return appears on stdout or stderr, and no
// line starts with what the file wrote.
import * as fs from 'fs';
import * as path from 'path';
import { FIXTURES, tempDir } from '../helpers/fixtures';
import { evilNames } from './hostile-models';
import { Run, cli } from './run-cli';

const EVIL = '\u001b]0;x\u0007\u001b[2J\r\nFAKE: PASSED';

const root = tempDir();
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function clean(r: Run, stack: boolean): void {
  for (const [stream, text] of [['stdout', r.stdout], ['stderr', r.stderr]] as const) {
    const bad = [...text.matchAll(/[\u001b\u0007\u009b]|\r(?!\n)|^FAKE/gm)].map((m) => `${JSON.stringify(m[0])} at ${m.index}: ${JSON.stringify(text.slice(Math.max(0, m.index! - 60), m.index! + 20))}`);
    expect({ stream, bad }).toEqual({ stream, bad: [] });
  }
  if (!stack) expect(r.stderr).not.toMatch(/^\s+at /m);
}

/** The official RepVGG checkpoint with block stage1.0 renamed stage1.0 + EVIL (read as a YOLOv6 one). */
function evilCheckpoint(): Uint8Array {
  const b = fs.readFileSync(path.join(FIXTURES, 'ckpt', 'official', 'train.safetensors'));
  const n = Number(b.readBigUInt64LE(0));
  const header = JSON.parse(b.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>;
  const renamed = Object.fromEntries(Object.entries(header).map(([k, v]) => [k.startsWith('stage1.0.') ? `stage1.0${EVIL}.${k.slice(9)}` : k, v]));
  const json = Buffer.from(JSON.stringify(renamed));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([length, json, b.subarray(8 + n)]);
}

function files(): { dir: string; model: string; other: string; custom: string; malformed: string; checkpoint: string } {
  const dir = fs.mkdtempSync(path.join(root, 'm-'));
  const write = (name: string, b: Uint8Array) => {
    fs.writeFileSync(path.join(dir, name), b);
    return path.join(dir, name);
  };
  return { dir, model: write('m.onnx', evilNames(EVIL)), other: write('other.onnx', evilNames(EVIL, { w3: 3 })), custom: write('custom.onnx', evilNames(EVIL, { customOp: true })), malformed: write('malformed.onnx', evilNames(EVIL, { group3: 0 })), checkpoint: write('ckpt.safetensors', evilCheckpoint()) };
}

const f = files();

test.each([
  ['inspect', () => ['inspect', f.model], 0],
  ['inspect --verbose', () => ['inspect', f.model, '--verbose'], 0],
  ['inspect of a custom op', () => ['inspect', f.custom, '--verbose'], 0],
  ['convert', () => [f.model, path.join(f.dir, 'out1.onnx')], 0],
  ['convert --verbose', () => [f.model, path.join(f.dir, 'out2.onnx'), '--verbose'], 0],
  ['convert --verbose --per-block', () => [f.model, path.join(f.dir, 'out3.onnx'), '--verbose', '--per-block'], 0],
  ['convert to a TensorRT plan, --verbose (its warnings quote op types)', () => [f.custom, path.join(f.dir, 'out4.plan'), '--no-verify', '--verbose'], 0],
  ['convert of a custom op, checked (onnxruntime cannot load it)', () => [f.custom, path.join(f.dir, 'out5.onnx')], 2],
  ['convert of a custom op, --no-verify --verbose', () => [f.custom, path.join(f.dir, 'out6.onnx'), '--no-verify', '--verbose'], 0],
  ['verify, passing', () => ['verify', f.model, f.model, '--verbose'], 0],
  ['verify --per-block, passing', () => ['verify', f.model, f.model, '--per-block'], 0],
  ['verify, failing', () => ['verify', f.model, f.other, '--verbose'], 1],
  ['verify --per-block, failing', () => ['verify', f.model, f.other, '--per-block'], 1],
  ['bench', () => ['bench', f.model, f.other, '--runs', '2', '--warmup', '1'], 0],
  ['convert of a malformed model (the refusal names its node)', () => [f.malformed, path.join(f.dir, 'out7.onnx')], 2],
  ['convert --debug of a malformed model (the stack repeats the message)', () => [f.malformed, path.join(f.dir, 'out8.onnx'), '--debug'], 2],
  ['inspect of a checkpoint', () => ['inspect', f.checkpoint, '--verbose'], 0],
  ['convert of a checkpoint to safetensors', () => [f.checkpoint, path.join(f.dir, 'out10.safetensors'), '--verbose'], 0],
  ['convert of a checkpoint to ONNX (no architecture in it)', () => [f.checkpoint, path.join(f.dir, 'out11.onnx'), '--verbose'], 2],
  ['inspect --json (escaped by JSON)', () => ['inspect', f.model, '--json'], 0],
  ['convert --json', () => [f.model, path.join(f.dir, 'out9.onnx'), '--json'], 0],
])('%s', async (_name, args, code) => {
  const r = await cli(args());
  clean(r, args().includes('--debug'));
  expect(r.code).toBe(code);
});
