// The check on inputs from files (--inputs) and its saved inputs and outputs (--save-inputs,
// --save-results): saved inputs fed back reproduce the report; a numpy-made input for repvgg-bn gives
// the output PyTorch computed for it; files that do not fit the model are refused with a reason.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { convert } from '../../src/api/convert';
import { verify } from '../../src/api/verify';
import { UserError } from '../../src/errors';
import { committedFiles } from '../../src/formats/atomic-file';
import { npyBytes, NpyArray, readNpyFile } from '../../src/formats/npy';
import { readNpz, writeNpz } from '../../src/formats/npz';
import { VerifyReport, verifyModels } from '../../src/verify';
import { caseDir, FIXTURES, readArray } from '../helpers/fixtures';
import { rejection } from '../helpers/errors';
import { DOUBLE, INT64, tempDir, writeTiny } from './helpers/tiny-onnx';

const BIN = path.join(__dirname, '..', '..', 'bin', 'repvgg-convert.js');
const train = path.join(caseDir('repvgg-bn'), 'train.onnx');
const deploy = path.join(caseDir('repvgg-bn'), 'deploy_ref.onnx');
const REPLAY = path.join(FIXTURES, 'npy', 'replay', 'repvgg-bn');

const { dir, cleanup } = tempDir();
afterAll(cleanup);
const at = (name: string) => path.join(dir, name);

const f32 = (values: ArrayLike<number>, shape: readonly number[]): NpyArray => ({ dtype: 'float32', shape, data: new Uint8Array(Float32Array.from(values).buffer) });
const f64 = (values: ArrayLike<number>, shape: readonly number[]): NpyArray => ({ dtype: 'float64', shape, data: new Uint8Array(Float64Array.from(values).buffer) });
const floats = (a: NpyArray) => new Float32Array(a.data.buffer.slice(a.data.byteOffset, a.data.byteOffset + a.data.byteLength));
const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};
/** The numbers of a report, without timings and where the inputs came from. */
const numbers = (r: VerifyReport) => ({ ok: r.ok, samples: r.samples, outputs: r.outputs, inputs: r.inputs });

describe('saved inputs replay the check', () => {
  test('--save-inputs of 3 random samples, fed back with --inputs, gives the same report numbers', async () => {
    const first = await verifyModels(train, deploy, { ep: 'cpu', samples: 3, seed: 7, saveInputs: at('in3.npz'), saveResults: at('out3.npz') });
    expect(first.inputsFrom).toBe('random');
    expect(first.seed).toBe(7);
    expect(first.saved).toEqual({ inputs: at('in3.npz'), results: at('out3.npz') });
    const saved = readNpz(at('in3.npz'));
    expect([...saved.keys()]).toEqual(['sample0/input', 'sample1/input', 'sample2/input']);
    expect(saved.get('sample1/input')!.shape).toEqual([1, 3, 32, 32]);

    const again = await verifyModels(train, deploy, { ep: 'cpu', inputs: [at('in3.npz')], saveResults: at('again.npz') });
    expect(again.inputsFrom).toEqual([at('in3.npz')]);
    expect(again.seed).toBeUndefined();
    expect(numbers(again)).toEqual(numbers(first));
    // the outputs are the same bytes too
    const [a, b] = [readNpz(at('out3.npz')), readNpz(at('again.npz'))];
    expect([...a.keys()]).toEqual(['sample0/reference/output', 'sample0/candidate/output', 'sample1/reference/output', 'sample1/candidate/output', 'sample2/reference/output', 'sample2/candidate/output']);
    expect(b).toEqual(a);
  });

  test('one sample saves its arrays without a sample prefix; numpy-style single files replay it', async () => {
    const r = await verifyModels(train, deploy, { ep: 'cpu', seed: 3, saveInputs: at('in1.npz'), saveResults: at('out1.npz') });
    const inputs = readNpz(at('in1.npz'));
    expect([...inputs.keys()]).toEqual(['input']);
    expect([...readNpz(at('out1.npz')).keys()]).toEqual(['reference/output', 'candidate/output']);
    // the same array as .npy, as raw bytes with a shape, named or not
    const x = inputs.get('input')!;
    fs.writeFileSync(at('x.npy'), npyBytes(x));
    fs.writeFileSync(at('x.bin'), x.data);
    for (const spec of [at('x.npy'), `input=${at('x.npy')}`, `${at('x.bin')}:1x3x32x32`, `input=${at('x.bin')}:1x3x32x32`, at('in1.npz')]) {
      const again = await verifyModels(train, deploy, { ep: 'cpu', inputs: [spec] });
      expect([spec, numbers(again)]).toEqual([spec, numbers(r)]);
    }
  });

  test('several --inputs are several samples, in order', async () => {
    const r = await verifyModels(train, deploy, { ep: 'cpu', inputs: [at('x.npy'), `${at('x.bin')}:1x3x32x32`], saveInputs: at('two.npz') });
    expect(r.samples).toBe(2);
    const saved = readNpz(at('two.npz'));
    expect(saved.get('sample0/input')).toEqual(saved.get('sample1/input'));
  });
});

describe('replay against PyTorch', () => {
  test("a numpy-made input gives, in the reference model, the output PyTorch computed for it (within 1e-5)", async () => {
    const r = await verifyModels(train, deploy, { ep: 'cpu', inputs: [path.join(REPLAY, 'input.npy')], saveResults: at('torch.npz') });
    expect(r.ok).toBe(true);
    const saved = readNpz(at('torch.npz'));
    const torch = readNpyFile(path.join(REPLAY, 'reference.npy'));
    const ours = saved.get('reference/output')!;
    expect(ours.shape).toEqual(torch.shape);
    expect(maxAbs(floats(ours), floats(torch))).toBeLessThan(1e-5);
    expect(maxAbs(floats(saved.get('candidate/output')!), floats(torch))).toBeLessThan(1e-4);
  });

  test("the case's own raw input (input.bin) gives PyTorch's ref_train within 1e-5", async () => {
    await verifyModels(train, deploy, { ep: 'cpu', inputs: [`${path.join(caseDir('repvgg-bn'), 'input.bin')}:1x3x32x32`], saveResults: at('bin.npz') });
    const want = readArray(path.join(caseDir('repvgg-bn'), 'ref_train'));
    expect(maxAbs(floats(readNpz(at('bin.npz')).get('reference/output')!), want.data)).toBeLessThan(1e-5);
  });

  test('float64 arrays (numpy default) feeding a float32 input are rounded, with a note', async () => {
    const x = readNpyFile(path.join(REPLAY, 'input.npy'));
    fs.writeFileSync(at('x64.npy'), npyBytes(f64(floats(x), x.shape)));
    const r = await verifyModels(train, deploy, { ep: 'cpu', inputs: [at('x64.npy')], saveInputs: at('x64-fed.npz') });
    expect(r.inputNotes).toEqual([`${at('x64.npy')}: float64 values rounded to float32 for input "input"`]);
    expect(readNpz(at('x64-fed.npz')).get('input')).toEqual(x);
  });
});

describe('files that do not fit are refused with a reason', () => {
  const cases: [string, () => string[], RegExp][] = [
    ['an unknown input name', () => [`image=${at('x.npy')}`], /the model has no input named "image"/],
    ['a wrong shape', () => (fs.writeFileSync(at('small.npy'), npyBytes(f32(new Float32Array(48), [1, 3, 4, 4]))), [at('small.npy')]), /has shape \[1, 3, 4, 4\], but input "input" is \[1, 3, 32, 32\]/],
    ['a wrong dtype', () => (fs.writeFileSync(at('ids.npy'), npyBytes({ dtype: 'int64', shape: [2], data: new Uint8Array(16) })), [at('ids.npy')]), /ids\.npy is int64, but input "input" takes float32/],
    ['raw bytes of the wrong size', () => [`${at('x.bin')}:1x3x16x16`], /has 12288 bytes, but 1x3x16x16 float32 elements \(input "input"\) take 3072/],
    ['a shape on a .npy', () => [`${at('x.npy')}:1x3x32x32`], /is a \.npy array, which carries its own shape/],
    ['raw bytes without a shape', () => [at('x.bin')], /neither a \.npy array .* nor an \.npz archive/],
    ['an .npz named after other inputs', () => (writeNpz(at('other.npz'), [['image', f32(new Float32Array(3072), [1, 3, 32, 32])]]), [at('other.npz')]), /holds "image", but the model's inputs are "input"/],
    ['an .npz with a gap in its samples', () => (writeNpz(at('gap.npz'), [['sample1/input', f32(new Float32Array(3072), [1, 3, 32, 32])]]), [at('gap.npz')]), /no sample0\//],
    ['a missing file', () => [at('nothing.npy')], /nothing\.npy does not exist/],
  ];
  test.each(cases)('%s', async (_what, specs, message) => {
    const e = await rejection(verifyModels(train, deploy, { ep: 'cpu', inputs: specs() }));
    expect(e.message).toMatch(message);
  });

  test('save targets must be .npz files other than the models, and not the same one', async () => {
    expect((await rejection(verifyModels(train, deploy, { ep: 'cpu', saveInputs: at('x.npy') }))).hint).toMatch(/name it .*x\.npz/);
    const copy = at('model.npz');
    fs.copyFileSync(train, copy);
    expect((await rejection(verifyModels(copy, deploy, { ep: 'cpu', saveResults: copy }))).message).toMatch(/would overwrite a file the check reads/);
    expect((await rejection(verifyModels(train, deploy, { ep: 'cpu', saveInputs: at('s.npz'), saveResults: at('s.npz') }))).message).toMatch(/name the same file/);
    expect(fs.existsSync(at('s.npz'))).toBe(false);
  });
});

describe('models with several inputs and other dtypes', () => {
  // y = a + b (float [2, 3]); z = float(ids) (int64 [4])
  const model = () =>
    writeTiny(dir, 'two.onnx', {
      inputs: [{ name: 'a', dims: [2, 3] }, { name: 'b', dims: [2, 3] }, { name: 'ids', elemType: INT64, dims: [4] }],
      outputs: [{ name: 'y', dims: [2, 3] }, { name: 'z', dims: [4] }],
      nodes: [
        { op: 'Add', inputs: ['a', 'b'], outputs: ['y'] },
        { op: 'Cast', inputs: ['ids'], outputs: ['z'], ints: { to: 1 } },
      ],
    });
  const ids = (v: bigint[]): NpyArray => ({ dtype: 'int64', shape: [4], data: new Uint8Array(BigInt64Array.from(v).buffer) });

  test('NAME=FILE for each input; the k-th file of an input is sample k', async () => {
    const m = model();
    fs.writeFileSync(at('a0.npy'), npyBytes(f32([1, 2, 3, 4, 5, 6], [2, 3])));
    fs.writeFileSync(at('a1.npy'), npyBytes(f32([0, 0, 0, 0, 0, 1], [2, 3])));
    fs.writeFileSync(at('b.bin'), new Uint8Array(Float32Array.from([10, 20, 30, 40, 50, 60]).buffer));
    fs.writeFileSync(at('ids.npy'), npyBytes(ids([1n, -2n, 3n, 2n ** 40n])));
    const r = await verifyModels(m, m, {
      ep: 'cpu',
      inputs: [`a=${at('a0.npy')}`, `b=${at('b.bin')}:2x3`, `ids=${at('ids.npy')}`, `a=${at('a1.npy')}`, `b=${at('b.bin')}:2x3`, `ids=${at('ids.npy')}`],
      saveResults: at('two-out.npz'),
      saveInputs: at('two-in.npz'),
    });
    expect(r.ok).toBe(true);
    expect(r.samples).toBe(2);
    const out = readNpz(at('two-out.npz'));
    expect(Array.from(floats(out.get('sample0/reference/y')!))).toEqual([11, 22, 33, 44, 55, 66]);
    expect(Array.from(floats(out.get('sample1/candidate/y')!))).toEqual([10, 20, 30, 40, 50, 61]);
    expect(Array.from(floats(out.get('sample1/reference/z')!))).toEqual([1, -2, 3, 2 ** 40]);
    // and the saved inputs replay as one file
    const again = await verifyModels(m, m, { ep: 'cpu', inputs: [at('two-in.npz')] });
    expect(numbers(again)).toEqual(numbers(r));
  });

  test('a single unnamed file, uneven counts, and mixing .npz with single files are refused', async () => {
    const m = model();
    expect((await rejection(verifyModels(m, m, { ep: 'cpu', inputs: [at('a0.npy')] }))).hint).toMatch(/--inputs a=/);
    expect((await rejection(verifyModels(m, m, { ep: 'cpu', inputs: [`a=${at('a0.npy')}`, `a=${at('a1.npy')}`, `b=${at('b.bin')}:2x3`, `ids=${at('ids.npy')}`] }))).message).toMatch(/2 files for "a", 1 file for "b", 1 file for "ids"/);
    expect((await rejection(verifyModels(m, m, { ep: 'cpu', inputs: [at('two-in.npz'), `a=${at('a0.npy')}`] }))).message).toMatch(/mixes \.npz samples with files for single inputs/);
  });

  test('a float64 input takes float64 arrays as they are; dynamic dims take the files\' shapes', async () => {
    const m = writeTiny(dir, 'dyn.onnx', {
      inputs: [{ name: 'x', elemType: DOUBLE, dims: ['batch', 3, 'h', 'w'] }],
      outputs: [{ name: 'y', elemType: DOUBLE, dims: ['batch', 3, 'h', 'w'] }],
      nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'] }],
    });
    fs.writeFileSync(at('d.npy'), npyBytes(f64(Array.from({ length: 2 * 3 * 5 * 7 }, (_, i) => i - 100), [2, 3, 5, 7])));
    const r = await verifyModels(m, m, { ep: 'cpu', inputs: [at('d.npy')], saveResults: at('d-out.npz') });
    expect(r.inputs.x.shape).toEqual([2, 3, 5, 7]);
    expect(r.inputNotes).toBeUndefined();
    const y = readNpz(at('d-out.npz')).get('reference/y')!;
    expect(y.dtype).toBe('float64');
    expect(y.shape).toEqual([2, 3, 5, 7]);
    expect(await rejection(verifyModels(m, m, { ep: 'cpu', inputs: [at('d.npy')], inputShapes: { x: [1, 3, 5, 7] } }))).toBeInstanceOf(UserError);
  });
});

describe('in a conversion and on the command line', () => {
  test('convert: the check reads --inputs, saves float16 outputs as float16, and the saved files count as outputs', async () => {
    const out = at('deploy16.onnx');
    const r = await convert(train, out, { dtype: 'fp16', verifyOptions: { ep: 'cpu', inputs: [path.join(REPLAY, 'input.npy')], saveResults: at('fp16.npz'), saveInputs: at('fp16-in.npz') } });
    expect(r.verify?.ok).toBe(true);
    expect(r.verify?.saved).toEqual({ inputs: at('fp16-in.npz'), results: at('fp16.npz') });
    const saved = readNpz(at('fp16.npz'));
    expect(saved.get('reference/output')!.dtype).toBe('float32');
    expect(saved.get('candidate/output')!.dtype).toBe('float16');
    // written by both checks of an FP16 conversion (the float32 graph's, then the float16 file's), named once
    expect(committedFiles().filter((f) => f === at('fp16.npz'))).toEqual([at('fp16.npz')]);
    expect(committedFiles()).toEqual(expect.arrayContaining([at('fp16.npz'), at('fp16-in.npz'), out]));
  });

  test('verify --inputs with --seed warns that the seed is ignored; --save-results is in the JSON report', () => {
    const r = spawnSync(process.execPath, [BIN, 'verify', train, deploy, '--ep', 'cpu', '--inputs', path.join(REPLAY, 'input.npy'), '--seed', '3', '--save-results', at('cli.npz'), '--json'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/--seed \(seed\) sets the random inputs, which --inputs \(inputs\) replaces, so it is ignored/);
    const report = JSON.parse(r.stdout);
    expect(report.inputsFrom).toEqual([path.join(REPLAY, 'input.npy')]);
    expect(report.saved).toEqual({ results: at('cli.npz') });
    expect(report.seed).toBeUndefined();
    expect(fs.existsSync(at('cli.npz'))).toBe(true);
  });

  test('convert --no-verify with --inputs and --save-results warns that they are ignored, and writes no .npz', () => {
    const r = spawnSync(process.execPath, [BIN, train, at('nv.onnx'), '--no-verify', '--inputs', path.join(REPLAY, 'input.npy'), '--save-results', at('nv.npz')], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/--inputs, --save-results set the check, which --no-verify/);
    expect(fs.existsSync(at('nv.npz'))).toBe(false);
  });

  test('library options: inputs is a list, and a conversion warns that samples do nothing beside it', async () => {
    const e = await rejection(verify(train, deploy, { ep: 'cpu', inputs: path.join(REPLAY, 'input.npy') as unknown as string[] }));
    expect(e.message).toMatch(/verify\(\): options\.inputs must be a list of strings/);
    const warnings: string[] = [];
    await convert(train, at('warned.onnx'), { verifyOptions: { ep: 'cpu', samples: 4, inputs: [path.join(REPLAY, 'input.npy')] }, onEvent: (ev) => ev.type === 'warning' && warnings.push(ev.message) });
    expect(warnings).toEqual([expect.stringMatching(/^--samples \(samples\) sets the random inputs, which --inputs \(inputs\) replaces/)]);
  });

  test('the text report says where the inputs came from and what was saved', async () => {
    const r = await verify(train, deploy, { ep: 'cpu', inputs: [path.join(REPLAY, 'input.npy')], saveInputs: at('t.npz') });
    const { formatReport } = await import('../../src/verify/format');
    const text = formatReport(r);
    expect(text).toMatch(/1 sample from .*input\.npy, atol/);
    expect(text).toMatch(/saved inputs to .*t\.npz/);
  });
});
