// inspect on the PyTorch-made checkpoints: blocks, strides, groups and SE as the fixtures were built,
// parameters against the tensors themselves, an already converted checkpoint reported as deploy form.
import * as fs from 'fs';
import * as path from 'path';
import { readSafetensors } from '../../src/formats/safetensors';
import { inspectModel } from '../../src/inspect';
import { numel } from '../../src/dtype';
import { FIXTURES, caseDir } from '../helpers/fixtures';

const ckpt = (c: string, f: string) => path.join(FIXTURES, 'ckpt', c, f);

interface Arch {
  num_blocks: number[];
  widths: number[];
  stage0_width: number;
  groups: Record<string, number>;
  se: unknown;
  num_classes: number;
}
const archOf = (c: string): Arch => JSON.parse(fs.readFileSync(ckpt(c, 'meta.json'), 'utf8')).arch;

/** Official names, strides, groups (by layer, the stem being layer 0), identity and SE from meta.json. */
function expected(c: string) {
  const a = archOf(c);
  const out = [{ name: 'stage0', stride: 2, groups: a.groups['0'] ?? 1, identity: false, se: a.se !== null }];
  let width = a.stage0_width;
  a.num_blocks.forEach((n, s) => {
    for (let i = 0; i < n; i++) {
      const layer = out.length;
      out.push({ name: `stage${s + 1}.${i}`, stride: i === 0 ? 2 : 1, groups: a.groups[String(layer)] ?? 1, identity: i > 0 && width === a.widths[s], se: a.se !== null });
      width = a.widths[s];
    }
  });
  return out;
}

/** What PyTorch's model.parameters() holds: every tensor but BN running statistics and counters. */
function parameterCount(file: string): number {
  let n = 0;
  for (const [k, t] of readSafetensors(file).tensors) if (!/(running_mean|running_var|num_batches_tracked)$/.test(k)) n += numel(t.shape);
  return n;
}

describe.each(['official', 'official-g2-se'])('%s checkpoint', (c) => {
  test.each(['train.safetensors', 'train.pth'])('%s: every block with its stride, groups, identity and SE', (f) => {
    const r = inspectModel(ckpt(c, f));
    expect(r.format).toBe(f.endsWith('.pth') ? 'pth' : 'safetensors');
    expect(r.form).toBe('train');
    expect(r.checkpoint).toMatchObject({ scheme: 'official', schemeFrom: 'detected', architecture: 'custom', classes: archOf(c).num_classes });
    const want = expected(c);
    expect(r.blocks.map((b) => [b.name, b.stride, b.groups, b.identity, b.se, b.merges])).toEqual(
      want.map((w) => [w.name, [w.stride, w.stride], w.groups, w.identity, w.se, true]),
    );
    for (const b of r.blocks) expect(b.summary).toBe(b.identity ? '3x3 conv+bn, 1x1 conv+bn, bn' : '3x3 conv+bn, 1x1 conv+bn');
  });

  test('parameters are the tensors PyTorch counts, before and after; MACs shrink', () => {
    const r = inspectModel(ckpt(c, 'train.safetensors'));
    expect(r.before!.parameters).toBe(parameterCount(ckpt(c, 'train.safetensors')));
    expect(r.after!.parameters).toBe(parameterCount(ckpt(c, 'deploy_expected.safetensors')));
    expect(r.before!.parameters).toBeGreaterThan(r.after!.parameters);
    expect(r.before!.macs!).toBeGreaterThan(r.after!.macs!);
    expect(r.inputShapes).toEqual({ input: [1, 3, 224, 224] });
    expect(r.after!.ops.BatchNormalization).toBeUndefined();
    expect(r.after!.ops.Conv).toBe(8 * (archOf(c).se ? 3 : 1));
  });
});

test("the official checkpoint counted at 32x32 is PyTorch's ONNX deploy export of the same architecture", () => {
  // ckpt/official and onnx/repvgg-bn are the same network (widths 8/8/16/16, 2/2/2/1 blocks, 10 classes).
  const r = inspectModel(ckpt('official', 'train.pth'), { inputShapes: { '*': [1, 3, 32, 32] } });
  const onnx = inspectModel(path.join(caseDir('repvgg-bn'), 'deploy_ref.onnx'));
  expect([r.after!.parameters, r.after!.macs, r.after!.ops]).toEqual([onnx.after!.parameters, onnx.after!.macs, onnx.after!.ops]);
});

test('an already converted checkpoint is reported as deploy form, not converted again', () => {
  const r = inspectModel(ckpt('variants', 'deploy.pth'));
  const train = inspectModel(ckpt('official', 'train.pth'));
  expect(r.form).toBe('deploy');
  expect(r.merged).toEqual({});
  expect(r.blocks.map((b) => [b.name, b.kind, b.merges, b.summary])).toEqual(train.blocks.map((b) => [b.name, 'already one conv', false, '3x3 conv']));
  expect(r.blocks.map((b) => b.stride)).toEqual(train.blocks.map((b) => b.stride));
  expect(r.before).toEqual(r.after);
  expect(r.after).toEqual(train.after);
});

test('wrappers and module. prefixes are looked through, and said so', () => {
  const r = inspectModel(ckpt('variants', 'wrapped-model-module.pth'));
  expect(r.blocks.map((b) => b.name)).toEqual(expected('official').map((w) => w.name));
  expect(r.notes).toEqual(expect.arrayContaining(["took the 'model' entry", "stripped 'module.' prefix"]));
});

test('a detector checkpoint lists its blocks but has no architecture to count', () => {
  const r = inspectModel(ckpt('yolov6', 'train.safetensors'));
  expect(r.checkpoint).toMatchObject({ scheme: 'yolov6', architecture: null, bnEps: 0.001 });
  expect(r.checkpoint!.architectureMissing).toMatch(/detector/);
  expect(r.before).toBeNull();
  expect(r.after).toBeNull();
  expect(r.blocks.length).toBeGreaterThan(0);
  expect(r.blocks.every((b) => b.stride === null && b.merges)).toBe(true);
});

test.each(['timm', 'mmpretrain', 'repvggplus'])('%s: blocks, SE and counts from its own key scheme', (c) => {
  const r = inspectModel(ckpt(c, 'train.safetensors'));
  expect(r.checkpoint!.scheme).toBe(c);
  expect(r.blocks).toHaveLength(8);
  expect(r.blocks.every((b) => b.se && b.merges)).toBe(true);
  expect(r.before!.macs!).toBeGreaterThan(r.after!.macs!);
  expect(r.after!.parameters).toBe(parameterCount(ckpt(c, 'deploy_expected.safetensors')));
});

test('a published architecture that does not fit is refused by name', () => {
  expect(() => inspectModel(ckpt('official', 'train.safetensors'), { arch: 'RepVGG-A0' })).toThrow(/the weights are not RepVGG-A0/);
});
