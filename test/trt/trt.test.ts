// TensorRT-ready output: the ONNX it writes (static shapes, opset, weights as initializers), and the
// trtexec command for both TensorRT generations. No test here builds a plan: trtexec is not installed.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { readOnnx } from '../../src/formats/onnx/read';
import { parseTrtexecHelp, trtexecArgs } from '../../src/api/trtexec';
import { trtPaths } from '../../src/api/convert';
import { caseDir, tempDir } from '../helpers/fixtures';

const BIN = path.join(__dirname, '..', '..', 'bin', 'repvgg-convert.js');
const cli = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, PATH: '/usr/bin:/bin' } });

// Excerpts of `trtexec --help` from the two generations: 10.x lists --fp16, 11.x dropped it.
const HELP_10 = '&&&& RUNNING TensorRT.trtexec [TensorRT v100800] # trtexec --help\n  --fp16                      Enable fp16 precision, in addition to fp32 (default = disabled)\n  --int8 ...';
const HELP_11 = '&&&& RUNNING TensorRT.trtexec [TensorRT v110000] # trtexec --help\n  --stronglyTyped             Create a strongly typed network. (default = disabled)\n  --best ...';

describe('trtexec command line', () => {
  const plan = { onnx: 'm.onnx', engine: 'm.plan', fp16: true, timingCache: 'tc.cache', profile: { min: 'input:1x3x224x224', opt: 'input:8x3x224x224', max: 'input:32x3x224x224' } };

  test('TensorRT 10 gets --fp16 for an FP16 model', () => {
    const info = parseTrtexecHelp(HELP_10);
    expect(info).toEqual({ hasFp16Flag: true, version: '100800' });
    expect(trtexecArgs(plan, info)).toEqual([
      '--onnx=m.onnx', '--saveEngine=m.plan',
      '--minShapes=input:1x3x224x224', '--optShapes=input:8x3x224x224', '--maxShapes=input:32x3x224x224',
      '--timingCacheFile=tc.cache', '--fp16',
    ]);
  });

  test('TensorRT 11 takes precision from the ONNX: no --fp16', () => {
    const info = parseTrtexecHelp(HELP_11);
    expect(info.hasFp16Flag).toBe(false);
    expect(trtexecArgs(plan, info)).not.toContain('--fp16');
    expect(trtexecArgs({ onnx: 'a.onnx', engine: 'a.plan', fp16: false }, parseTrtexecHelp(HELP_10))).toEqual(['--onnx=a.onnx', '--saveEngine=a.plan']);
  });

  test('output paths', () => {
    expect(trtPaths('out/model.plan')).toEqual({ onnx: 'out/model.onnx', engine: 'out/model.plan' });
    expect(trtPaths('model.engine')).toEqual({ onnx: 'model.onnx', engine: 'model.engine' });
    expect(trtPaths('model.onnx')).toEqual({ onnx: 'model.onnx', engine: 'model.plan' });
  });
});

describe('--to trt without trtexec', () => {
  const dir = tempDir();
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('writes a static-shape ONNX at opset 13, prints the command, says no plan was built, exits 0', () => {
    const out = path.join(dir, 'm11.plan');
    const r = cli(path.join(caseDir('repvgg-opset11-bn'), 'train.onnx'), out, '--json');
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.verify.ok).toBe(true);
    expect(j.trt).toMatchObject({ built: false, onnx: path.join(dir, 'm11.onnx'), engine: out });
    expect(j.trt.command).toBe(`trtexec --onnx=${path.join(dir, 'm11.onnx')} --saveEngine=${out}`);
    expect(r.stderr).toMatch(/warning: no plan was built: trtexec is not on PATH/);
    expect(fs.existsSync(out)).toBe(false);
    const m = readOnnx(path.join(dir, 'm11.onnx'));
    expect(m.opsets.find((o) => o.domain === '')?.version).toBe(13);
    expect(m.graph.inputs[0].type?.dims).toEqual([1, 3, 32, 32]);
    expect(m.graph.nodes.some((n) => n.opType === 'Constant')).toBe(false);
    m.close();
  });

  test('dynamic batch keeps the batch dim and prints the profile', () => {
    const out = path.join(dir, 'dyn.onnx');
    const r = cli(path.join(caseDir('repvgg-dynamic-bn'), 'train.onnx'), out, '--to', 'trt', '--dynamic-batch', '--input-shape', '4x3x32x32', '--max-batch', '16', '--json');
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.trt.friendly.profile).toEqual({ min: 'input:1x3x32x32', opt: 'input:4x3x32x32', max: 'input:16x3x32x32' });
    expect(j.trt.command).toContain('--maxShapes=input:16x3x32x32');
    const m = readOnnx(out);
    expect(typeof m.graph.inputs[0].type?.dims?.[0]).toBe('string');
    expect(m.graph.inputs[0].type?.dims?.slice(1)).toEqual([3, 32, 32]);
    m.close();
  });

  test('Constant weights become initializers (SE graph)', () => {
    const out = path.join(dir, 'se.onnx');
    expect(cli(path.join(caseDir('repvgg-se-folded'), 'train.onnx'), out, '--to', 'trt').status).toBe(0);
    const m = readOnnx(out);
    expect(m.graph.nodes.filter((n) => n.opType === 'Constant')).toEqual([]);
    m.close();
  });

  test('a checkpoint goes to a TensorRT-ready ONNX too', () => {
    const out = path.join(dir, 'ck.plan');
    const r = cli(path.join(__dirname, '..', '..', 'fixtures', 'ckpt', 'official', 'train.safetensors'), out, '--input-shape', '1x3x32x32', '--json');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, trt: { built: false }, verify: { ok: true } });
  });
});
