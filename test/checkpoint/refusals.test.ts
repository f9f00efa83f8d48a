// What the checkpoint converter refuses, and that each refusal names what it saw.
import { convertStateDict, detectScheme, inspectCheckpoint } from '../../src/checkpoint';
import { UserError } from '../../src/errors';
import { StateDict } from '../../src/formats/state-dict';
import { Tensor, tensorBytes, tensorFromArray, toFloat32 } from '../../src/tensor';
import { rng } from '../helpers/random';
import { syntheticClassifier, withTensor } from './synthetic';

const net = syntheticClassifier(rng(31), 'official', { withSe: false });
const sd = net.sd;

function edited(key: string, edit: (v: Float32Array) => void): StateDict {
  const t = sd.tensors.get(key)!;
  const v = Float32Array.from(toFloat32(t));
  edit(v);
  return withTensor(sd, key, tensorFromArray(t.shape, v));
}

function userError(fn: () => unknown): UserError {
  try {
    fn();
  } catch (e) {
    if (e instanceof UserError) return e;
    throw e;
  }
  throw new Error('expected a UserError');
}

/** Converts and reads every output tensor: merged kernels are checked as they are computed. */
function convertAll(s: StateDict): void {
  for (const t of convertStateDict(s).tensors.values()) tensorBytes(t);
}

test('a NaN or infinite weight is refused, naming the tensor', () => {
  const nan = userError(() => convertAll(edited('stage1.0.rbr_dense.conv.weight', (v) => (v[5] = NaN))));
  expect(nan.message).toContain("'stage1.0.rbr_dense.conv.weight'");
  expect(nan.message).toContain('element 5');
  const inf = userError(() => convertStateDict(edited('stage0.rbr_1x1.bn.bias', (v) => (v[0] = -Infinity))));
  expect(inf.message).toContain("'stage0.rbr_1x1.bn.bias'");
  const oneByOne = userError(() => convertAll(edited('stage2.1.rbr_1x1.conv.weight', (v) => (v[3] = Infinity))));
  expect(oneByOne.message).toContain("'stage2.1.rbr_1x1.conv.weight'");
  expect(oneByOne.message).toContain('element 3');
  // Finite inputs whose merge passes float32's range.
  const variance = 'stage1.0.rbr_dense.bn.running_var';
  const zeroVariance = tensorFromArray(sd.tensors.get(variance)!.shape, new Float32Array(sd.tensors.get(variance)!.shape[0]));
  const big = userError(() => convertAll(withTensor(edited('stage1.0.rbr_dense.bn.weight', (v) => (v[0] = 3e38)), variance, zeroVariance)));
  expect(big.message).toContain('beyond the float32 range');
});

test('a running_var at or below -eps is refused; one just above -eps converts', () => {
  const e = userError(() => convertStateDict(edited('stage0.rbr_dense.bn.running_var', (v) => (v[1] = -0.5))));
  expect(e.message).toContain("'stage0.rbr_dense.bn.running_var'");
  expect(e.message).toContain('-0.5');
  expect(() => convertStateDict(edited('stage0.rbr_dense.bn.running_var', (v) => (v[1] = -1e-5)))).toThrow(UserError);
  expect(() => convertStateDict(edited('stage0.rbr_dense.bn.running_var', (v) => (v[1] = -5e-6)))).not.toThrow();
});

test('an already-converted checkpoint is reported by inspect and refused by convert', () => {
  const deploy: StateDict = { tensors: convertStateDict(sd).tensors, metadata: {}, notes: [] };
  expect(detectScheme(deploy)).toBe('official');
  const report = inspectCheckpoint(deploy);
  expect(report.form).toBe('deploy');
  expect(report.deployBlocks).toEqual(net.blocks.map((b) => b.name));
  expect(userError(() => convertStateDict(deploy)).message).toMatch(/already in deploy form/);
});

test('keys of no known scheme are refused, showing some of them', () => {
  const plain: StateDict = {
    tensors: new Map<string, Tensor>([
      ['conv1.weight', tensorFromArray([4, 3, 3, 3], new Float32Array(108))],
      ['fc.weight', tensorFromArray([2, 4], new Float32Array(8))],
    ]),
    metadata: {},
    notes: [],
  };
  const e = userError(() => detectScheme(plain));
  expect(e.message).toMatch(/no re-parameterizable blocks/);
  expect(e.message).toContain("'conv1.weight'");
  expect(e.hint).toMatch(/another family converts from ONNX: export the training-time model with torch\.onnx\.export/);
  expect(() => convertStateDict(plain)).toThrow(/no re-parameterizable blocks/);
});

test('a forced scheme that does not fit the keys is refused', () => {
  expect(userError(() => convertStateDict(sd, { scheme: 'timm' })).message).toMatch(/no timm blocks/);
});

test('two schemes in one checkpoint are refused unless one is named', () => {
  const timm = syntheticClassifier(rng(32), 'timm', { withSe: false });
  const mixed: StateDict = { tensors: new Map([...sd.tensors, ...timm.sd.tensors]), metadata: {}, notes: [] };
  expect(userError(() => detectScheme(mixed)).message).toMatch(/mix several key schemes/);
  const { report } = convertStateDict(mixed, { scheme: 'timm' });
  expect(report.blocks.map((b) => b.name)).toEqual(timm.blocks.map((b) => b.name));
});

test('a block with both branches and a deploy conv is refused', () => {
  const half = new Map(sd.tensors);
  half.set('stage1.0.rbr_reparam.weight', sd.tensors.get('stage1.0.rbr_dense.conv.weight')!);
  expect(userError(() => convertStateDict({ ...sd, tensors: half })).message).toMatch(/half-converted/);
});

test('a branch that is a bare conv (no BN, QARepVGG-style) is refused, not merged wrongly', () => {
  const key = 'stage1.0.rbr_1x1.conv.weight';
  const bare = withTensor(sd, key, sd.tensors.get(key), 'stage1.0.rbr_1x1.weight');
  const e = userError(() => convertStateDict(bare));
  expect(e.message).toContain("'stage1.0.rbr_1x1.weight'");
  expect(e.code).toBe('UNSUPPORTED');
});

test('a BN without running statistics and shapes that do not add up are refused', () => {
  expect(userError(() => convertStateDict(withTensor(sd, 'stage0.rbr_dense.bn.running_var', undefined))).message).toMatch(/no running_var/);
  const wrong = withTensor(sd, 'stage0.rbr_1x1.bn.weight', tensorFromArray([3], new Float32Array(3)));
  expect(userError(() => convertStateDict(wrong)).message).toContain("'stage0.rbr_1x1.bn.weight' has shape [3]");
});

test('a negative or non-numeric BN eps is refused', () => {
  expect(() => convertStateDict(sd, { bnEps: -1 })).toThrow(/BN eps/);
  expect(() => convertStateDict(sd, { bnEps: NaN })).toThrow(/BN eps/);
});
