// Merged kernels that stream: the weight a writer takes slice by slice (read into its buffer and merged
// there) has the bits of the whole merge, and a value that is not finite stops the stream by name.
import * as fs from 'fs';
import * as path from 'path';
import { BufferSource } from '../../src/formats/bytes';
import { FileSink } from '../../src/formats/sink';
import { Affine, Branch, affineOfBn, mergeBranches, rowMerge } from '../../src/math/kernel';
import { lazyKernelTensors } from '../../src/reparam/lazy';
import { streamLazyBytes, tensorBytes } from '../../src/tensor';
import { FIXTURES, tempDir } from '../helpers/fixtures';
import { readOnnx } from '../../src/formats/onnx/read';
import { readSafetensors } from '../../src/formats/safetensors';
import { reparameterize } from '../../src/rules/pipeline';
import { convertStateDict } from '../../src/checkpoint';
import { Rng, rng } from '../helpers/random';

// 256 channels of 3x3: 2.25 MiB of weights, three slices of at most 1 MiB.
const C = 256;
const SHAPE = [C, C, 3, 3] as const;

function bn(r: Rng): Affine {
  return affineOfBn({ gamma: r.floats(C, 0.5, 1.5), beta: r.floats(C), mean: r.floats(C), variance: r.floats(C, 0.1, 2), eps: 1e-5 });
}

function block(seed: number, poison?: { at: number; value: number }) {
  const r = rng(seed);
  const dense = r.floats(C * C * 9);
  if (poison) dense[poison.at] = poison.value;
  const branches: Branch[] = [
    { kind: 'conv', kernel: { shape: SHAPE, weight: dense, bias: new Float32Array(C) }, affine: bn(r) },
    { kind: 'conv', kernel: { shape: [C, C, 1, 1], weight: r.floats(C * C), bias: new Float32Array(C) }, affine: bn(r) },
    { kind: 'skip', affine: bn(r) },
  ];
  const geometry = { channelsIn: C, channelsOut: C, groups: 1 };
  const range = { source: new BufferSource('dense', new Uint8Array(dense.buffer)), offset: 0, length: dense.byteLength };
  const blamed: string[] = [];
  const computed = { whole: 0 };
  const tensors = lazyKernelTensors(SHAPE, {
    compute: () => {
      computed.whole++;
      return mergeBranches(branches, geometry);
    },
    rows: { range, prepare: () => rowMerge([{ ...branches[0], kernel: { ...(branches[0] as Extract<Branch, { kind: 'conv' }>).kernel, weight: new Float32Array(0) } } as Branch, ...branches.slice(1)], geometry) },
    notFinite: () => {
      blamed.push('dense');
      throw new Error('dense is not finite');
    },
  });
  return { tensors, expected: mergeBranches(branches, geometry), blamed, computed };
}

const bits = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
/** Byte equality without a deep compare (which takes minutes on megabytes). */
const same = (a: Uint8Array, b: Float32Array) => bits(a).equals(bits(new Uint8Array(b.buffer, b.byteOffset, b.byteLength)));

test('a streamed weight has the bits of the whole merge, through any writer', () => {
  const { tensors, expected, computed } = block(1);
  const slices: Uint8Array[] = [];
  streamLazyBytes(tensors.weight, (b) => slices.push(b.slice()));
  expect(slices.length).toBe(3);
  expect(same(Buffer.concat(slices), expected.weight)).toBe(true);
  expect(same(tensorBytes(tensors.bias), expected.bias)).toBe(true);
  expect(computed.whole).toBe(0);
  // Whole reads still work beside streaming, and give the same bytes; they keep nothing between reads.
  expect(same(tensorBytes(tensors.weight), expected.weight)).toBe(true);
  expect(same(tensorBytes(tensors.weight), expected.weight)).toBe(true);
  expect(computed.whole).toBe(2);

  // Into a file sink whose worker hands out its own buffer, after an odd-sized header.
  const dir = tempDir();
  const file = path.join(dir, 'w.bin');
  const fd = fs.openSync(file, 'w');
  const sink = new FileSink(fd, { backgroundAfter: 0 });
  sink.write(Uint8Array.of(1, 2, 3));
  const t = tensors.weight;
  if (t.data.kind !== 'lazy' || !t.data.stream) throw new Error('the weight does not stream');
  t.data.stream((n, fill) => sink.fill(n, fill));
  sink.flush();
  fs.closeSync(fd);
  expect(same(fs.readFileSync(file).subarray(3), expected.weight)).toBe(true);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('NaN or Inf in the streamed rows stops the stream in its slice, through notFinite', () => {
  for (const [at, value] of [[5, NaN], [C * 9 * 200 + 4, Infinity]] as const) {
    const { tensors, blamed } = block(2, { at, value });
    let slices = 0;
    expect(() => streamLazyBytes(tensors.weight, () => slices++)).toThrow('dense is not finite');
    expect(blamed).toEqual(['dense']);
    // A poison in row 200 lies in the second slice: the first was already handed over.
    expect(slices).toBe(at < C * 9 * 113 ? 0 : 1);
  }
});

test('blocks whose full-size kernel is a float32 file range stream, from ONNX and from checkpoints alike', () => {
  const m = readOnnx(path.join(FIXTURES, 'onnx', 'repvgg-bn', 'train.onnx'));
  try {
    reparameterize(m.graph);
    const merged = [...m.graph.values].filter((v) => v.initializer && /rbr_reparam\.weight$/.test(v.name));
    expect(merged).toHaveLength(8);
    expect(merged.every((v) => v.initializer!.tensor.data.kind === 'lazy' && !!(v.initializer!.tensor.data as { stream?: unknown }).stream)).toBe(true);
  } finally {
    m.close();
  }
  const { tensors } = convertStateDict(readSafetensors(path.join(FIXTURES, 'ckpt', 'official', 'train.safetensors')));
  const weights = [...tensors].filter(([k]) => k.endsWith('rbr_reparam.weight'));
  expect(weights).toHaveLength(8);
  expect(weights.every(([, t]) => t.data.kind === 'lazy' && !!t.data.stream)).toBe(true);
});
