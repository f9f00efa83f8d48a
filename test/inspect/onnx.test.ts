// inspect on the PyTorch-made ONNX fixtures: blocks with their kind, stride, groups, identity and SE as
// the fixtures were built; ops, parameters and MACs before and after, the deploy side equal to PyTorch's
// own deploy export; nothing written.
import * as fs from 'fs';
import * as path from 'path';
import { inspectModel, InspectReport } from '../../src/inspect';
import { ONNX_CASES, PENDING_INSPECT, caseDir, meta, tempDir } from '../helpers/fixtures';
import { rng } from '../helpers/random';
import { builder, int, ints } from './graphs';

const train = (c: string) => path.join(caseDir(c), 'train.onnx');
const deployRef = (c: string) => path.join(caseDir(c), 'deploy_ref.onnx');
const full = (c: string) => JSON.parse(fs.readFileSync(path.join(caseDir(c), 'meta.json'), 'utf8')) as {
  description: string;
  opset: number;
  blocks: number;
  single_folds: number;
  train_ops: Record<string, number>;
  expect_ops: Record<string, number>;
};

/** Cases the tool deliberately leaves partly unmerged (see test/rules/fixtures.test.ts). */
const LEFT_ALONE = new Set(['shared-weight-bn']);
/** Cases whose family inspect does not report yet (meta.json `pending`). */
const PENDING = new Set(PENDING_INSPECT);

describe.each(ONNX_CASES)('inspect %s', (c) => {
  const m = full(c);
  let before: InspectReport;
  let ref: InspectReport;
  beforeAll(() => {
    before = inspectModel(train(c));
    ref = inspectModel(deployRef(c));
  });

  test('ops before are the training graph, and the merges are the ones the fixture was built with', () => {
    expect(before.format).toBe('onnx');
    expect(before.before!.ops).toEqual(m.train_ops);
    if (PENDING.has(c)) return;
    expect(before.form).toBe('train');
    if (LEFT_ALONE.has(c)) return;
    expect(before.blocks.filter((b) => b.merges)).toHaveLength(m.blocks);
    expect(before.folds.filter((f) => f.folds)).toHaveLength(m.single_folds);
    expect(before.after!.ops).toEqual(m.expect_ops);
  });

  test("the deploy side counts what PyTorch's deploy export counts; before >= after", () => {
    expect(ref.form).toBe('deploy');
    expect(ref.blocks.every((b) => !b.merges)).toBe(true);
    expect(ref.before).toEqual(ref.after);
    const a = before.after!;
    const b = before.before!;
    expect(b.parameters).toBeGreaterThanOrEqual(a.parameters);
    expect(b.macs!).toBeGreaterThanOrEqual(a.macs!);
    if (PENDING.has(c)) return;
    expect(a.uncounted).toEqual([]);
    if (LEFT_ALONE.has(c)) return;
    expect({ parameters: a.parameters, macs: a.macs, macsByOp: a.macsByOp }).toEqual({ parameters: ref.after!.parameters, macs: ref.after!.macs, macsByOp: ref.after!.macsByOp });
  });
});

/** RepVGG stage layout from the fixture's description ("stage0 + 4 stages of 2/2/2/1 blocks, widths 8/8/16/16"). */
function layout(c: string): { name: string; stride: number; identity: boolean; inC: number; outC: number }[] {
  const d = full(c).description;
  const counts = d.match(/stages of (\d+)\/(\d+)\/(\d+)\/(\d+) blocks/)!.slice(1).map(Number);
  const widths = d.match(/widths (\d+)\/(\d+)\/(\d+)\/(\d+)/)!.slice(1).map(Number);
  const out = [{ name: 'stage0', stride: 2, identity: false, inC: 3, outC: widths[0] }];
  counts.forEach((n, s) => {
    for (let i = 0; i < n; i++) {
      const inC = out[out.length - 1].outC;
      out.push({ name: `stage${s + 1}.${i}`, stride: i === 0 ? 2 : 1, identity: i > 0 && inC === widths[s], inC, outC: widths[s] });
    }
  });
  return out;
}

describe('fixtures whose blocks inspect does not report yet (meta.json pending)', () => {
  for (const c of PENDING) test.todo(`${c}: ${meta(c).pending!.inspect ?? meta(c).pending!.convert}`);
});

describe('blocks of the official-style RepVGG fixtures', () => {
  test.each(['repvgg-bn', 'repvgg-folded', 'repvgg-opset11-bn', 'repvgg-dynamic-bn', 'convbias-bn'])('%s: every block, kind, stride and groups', (c) => {
    const r = inspectModel(train(c));
    const want = layout(c);
    const bn = c.includes('folded') ? 'conv' : 'conv+bn';
    expect(r.blocks.map((b) => b.name)).toEqual(want.map((w) => w.name));
    r.blocks.forEach((b, i) => {
      const w = want[i];
      expect([b.name, b.summary, b.stride, b.groups, b.identity, b.se, b.merges, b.kind]).toEqual([
        w.name,
        `3x3 ${bn}, 1x1 ${bn}${w.identity ? ', bn' : ''}`,
        [w.stride, w.stride],
        1,
        w.identity,
        false,
        true,
        w.identity ? 'RepVGG 3-branch' : 'RepVGG 2-branch',
      ]);
    });
    expect(r.merged).toEqual({ 'RepVGG 2-branch': 5, 'RepVGG 3-branch': 3 });
  });

  test('repvgg-g4-bn: groups 4 on layers 2, 4 and 6 (the blocks with identity), 1 elsewhere', () => {
    const r = inspectModel(train('repvgg-g4-bn'));
    expect(r.blocks.map((b) => b.groups)).toEqual([1, 1, 4, 1, 4, 1, 4, 1]);
    expect(r.blocks.filter((b) => b.groups === 4).every((b) => b.identity && b.merges)).toBe(true);
  });

  test('repvgg-se-folded: every block is followed by an SE; in the deploy export too', () => {
    expect(inspectModel(train('repvgg-se-folded')).blocks.map((b) => b.se)).toEqual(Array(8).fill(true));
    const ref = inspectModel(deployRef('repvgg-se-folded'));
    expect(ref.blocks.map((b) => [b.kind, b.se])).toEqual(Array(8).fill(['already one conv', true]));
  });

  test('MACs by hand: 3x3 + 1x1 per block at each map size, plus the linear layer', () => {
    const r = inspectModel(train('repvgg-bn'));
    let size = 32;
    let dense = 0;
    let oneByOne = 0;
    for (const b of layout('repvgg-bn')) {
      size /= b.stride;
      dense += size * size * b.outC * b.inC * 9;
      oneByOne += size * size * b.outC * b.inC;
    }
    const linear = 16 * 10;
    expect(r.before!.macsByOp).toEqual({ Conv: dense + oneByOne, Gemm: linear });
    expect(r.after!.macsByOp).toEqual({ Conv: dense, Gemm: linear });
    // Deploy parameters: one 3x3 kernel and bias per block, and the linear layer. BN statistics are not parameters.
    const params = layout('repvgg-bn').reduce((n, b) => n + b.outC * b.inC * 9 + b.outC, 0) + linear + 10;
    expect(r.after!.parameters).toBe(params);
  });
});

describe('blocks that stay', () => {
  test('detect-bn: the ResNet residual is listed as not merging, with the reason', () => {
    const r = inspectModel(train('detect-bn'));
    const res = r.blocks.find((b) => b.name === 'res')!;
    expect(res).toMatchObject({ merges: false, summary: 'Relu, Relu', identity: false });
    expect(res.reason).toMatch(/no summand is a Conv \(summands come from Relu, Relu\)/);
    expect(r.blocks.filter((b) => b.merges).map((b) => b.name)).toEqual(['b1', 'b2', 'b3', 'b4', 'b5']);
    expect(r.folds.map((f) => [f.conv, f.folds])).toEqual([['/stem/conv/Conv', true], ['/res/cv1/conv/Conv', true], ['/res/cv2/conv/Conv', true]]);
    // Resize + Concat are followed, so both heads are counted.
    expect(r.after!.uncounted).toEqual([]);
  });

  test('dilation-mismatch-bn: the mismatched blocks stay with the rule\'s reason, their BNs still fold', () => {
    const r = inspectModel(train('dilation-mismatch-bn'));
    const stay = r.blocks.filter((b) => !b.merges);
    expect(stay).toHaveLength(2);
    for (const b of stay) expect(b.reason).toMatch(/has dilations \[2,2\], .* has \[1,1\]/);
  });

  test('shared-weight-bn: a block applied twice is named by its own scope and refused as tied', () => {
    const r = inspectModel(train('shared-weight-bn'));
    expect(r.blocks.map((b) => [b.name, b.merges])).toEqual([['stem', true], ['shared', false], ['shared_1', false]]);
    expect(r.blocks[1].reason).toMatch(/is shared with/);
  });

  test('mobileone-bn: k-branch blocks with their depthwise groups', () => {
    const r = inspectModel(train('mobileone-bn'));
    expect(r.blocks.map((b) => b.kind)).toEqual(Array(7).fill('k-branch'));
    expect(r.blocks[1]).toMatchObject({ summary: '1x1 conv+bn, bn, 3x3 conv+bn, 3x3 conv+bn, 3x3 conv+bn', groups: 8, identity: true, stride: [1, 1] });
  });
});

describe('a model exported in training mode', () => {
  const dir = tempDir();
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('BatchNormalization with training_mode=1: a warning, the blocks stay with the reason, and it is not deploy form', () => {
    const b = builder(rng(11));
    const branch = (k: number, tag: string) => {
      const y = b.g.op(`/blk/${tag}`, 'Conv', [b.x, b.weight(`${tag}.w`, [4, 4, k, k])], [ints('kernel_shape', [k, k]), ints('pads', Array(4).fill(k >> 1))]);
      const stats = ['scale', 'bias', 'mean', 'var'].map((n) => b.weight(`${tag}.${n}`, [4]));
      const bn = b.g.graph.insertNode({
        opType: 'BatchNormalization',
        name: `/blk/${tag}/bn`,
        inputs: [y, ...stats],
        outputs: [`${tag}.y`, `${tag}.running_mean`, `${tag}.running_var`],
        attributes: [int('training_mode', 1)],
      });
      return bn.outputs[0];
    };
    const sum = b.g.op('/blk', 'Add', [branch(3, 'dense'), branch(1, 'one')]);
    const r = inspectModel(b.write(dir, 'train-mode.onnx', [1, 4, 8, 8], [[sum, 4]], 15));
    expect(r.form).toBe('train');
    expect(r.warnings).toHaveLength(2);
    expect(r.warnings[0]).toMatch(/has training_mode=1: the model was exported in training mode/);
    expect(r.blocks).toHaveLength(1);
    expect(r.blocks[0]).toMatchObject({ name: 'blk', summary: '3x3 conv+bn, 1x1 conv+bn', merges: false });
    expect(r.blocks[0].reason).toMatch(/runs in training mode \(batch statistics\); re-export the model in eval mode/);
  });
});

describe('input shapes', () => {
  const dir = tempDir();
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  function dynamicModel(): string {
    const b = builder(rng(7));
    const conv = b.g.op('', 'Conv', [b.x, b.weight('w', [8, 3, 3, 3])], [ints('kernel_shape', [3, 3]), ints('pads', [1, 1, 1, 1]), ints('strides', [2, 2])]);
    const flat = b.g.op('', 'Flatten', [b.g.op('', 'GlobalAveragePool', [conv])], [int('axis', 1)]);
    const y = b.g.op('', 'Gemm', [flat, b.weight('fc', [10, 8]), b.weight('fc_b', [10])], [int('transB', 1)]);
    return b.write(dir, 'dynamic.onnx', ['n', 3, 'h', 'w'], [[y, 2]]);
  }

  test('dynamic height and width: MACs need --input-shape, and scale with the map', () => {
    const file = dynamicModel();
    const unknown = inspectModel(file);
    expect(unknown.before!.macs).toBeNull();
    expect(unknown.inputShapes).toBeNull();
    expect(unknown.notes.join('\n')).toMatch(/dynamic dims \[n, 3, h, w\][\s\S]*--input-shape/);
    const at = (h: number) => inspectModel(file, { inputShapes: { '*': [1, 3, h, h] } }).before!;
    // stride 2, pad 1: a 64x64 map becomes 32x32 → 32·32·8·3·9 MACs, plus 8·10 for the linear layer.
    expect(at(64).macsByOp).toEqual({ Conv: 32 * 32 * 8 * 3 * 9, Gemm: 80 });
    expect(at(128).macsByOp.Conv).toBe(4 * at(64).macsByOp.Conv);
    expect(inspectModel(file, { inputShapes: { x: [2, 3, 64, 64] } }).before!.macsByOp).toEqual({ Conv: 2 * 32 * 32 * 8 * 3 * 9, Gemm: 160 });
  });

  test('a dynamic batch counts as 1; a shape that contradicts a fixed dim or names no input is refused', () => {
    const r = inspectModel(train('repvgg-dynamic-bn'));
    expect(r.inputShapes).toEqual({ input: [1, 3, 32, 32] });
    expect(() => inspectModel(train('repvgg-bn'), { inputShapes: { '*': [1, 3, 64, 64] } })).toThrow(/does not fit input, whose dim 2 is fixed at 32/);
    expect(() => inspectModel(train('repvgg-bn'), { inputShapes: { image: [1, 3, 32, 32] } })).toThrow(/names image, which is not an input/);
  });
});

describe('malformed attributes', () => {
  const dir = tempDir();
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('a Conv whose strides are not ints: its MACs are not counted outside a block, and a block holding it is refused by the rule', () => {
    const b = builder(rng(3));
    const bad = [ints('kernel_shape', [3, 3]), ints('pads', [1, 1, 1, 1]), int('strides', 1)];
    const lone = b.g.op('/lone', 'Conv', [b.x, b.weight('w0', [4, 4, 3, 3])], bad);
    const loneFile = b.write(dir, 'lone.onnx', [1, 4, 8, 8], [[lone, 4]]);
    const r = inspectModel(loneFile);
    expect(r.before!.uncounted).toEqual(['Conv /lone/Conv']);
    expect(r.notes.join('\n')).toMatch(/MACs of 1 node\(s\) not counted/);

    const c = builder(rng(4));
    const a1 = c.g.op('/blk/dense', 'Conv', [c.x, c.weight('w1', [4, 4, 3, 3])], bad);
    const a2 = c.g.op('/blk/one', 'Conv', [c.x, c.weight('w2', [4, 4, 1, 1])], [ints('kernel_shape', [1, 1])]);
    const sum = c.g.op('/blk', 'Add', [a1, a2]);
    const blockFile = c.write(dir, 'block.onnx', [1, 4, 8, 8], [[sum, 4]]);
    expect(() => inspectModel(blockFile)).toThrow(/Conv \/blk\/dense\/Conv: attribute strides is int, but ONNX defines it as ints; the model is malformed/);
  });
});

test('inspect writes nothing and leaves the model as it was', () => {
  const dir = tempDir();
  try {
    const file = path.join(dir, 'train.onnx');
    fs.copyFileSync(train('detect-bn'), file);
    const bytes = fs.readFileSync(file);
    const r: InspectReport = inspectModel(file);
    expect(r.blocks.length).toBeGreaterThan(0);
    expect(fs.readdirSync(dir)).toEqual(['train.onnx']);
    expect(Buffer.compare(fs.readFileSync(file), bytes)).toBe(0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('every fixture reports the reader facts of its file', () => {
  for (const c of ONNX_CASES) {
    const r = inspectModel(train(c));
    expect(r.onnx).toMatchObject({ producer: 'pytorch', irVersion: expect.any(Number) });
    expect(r.onnx!.opsets[0].version).toBe(full(c).opset);
    expect(r.onnx!.outputs).toEqual(meta(c).outputs);
  }
});

test('a model exported without its weights says so', () => {
  const r = inspectModel(path.join(__dirname, '..', '..', 'fixtures', 'bad', 'no-weights.onnx'));
  expect(r.notes).toContain('every Conv weight (16) is a graph input: the model was exported without its parameters (export_params=False), so nothing can merge');
  const ok = inspectModel(path.join(caseDir('repvgg-bn'), 'train.onnx'));
  expect(ok.notes.join('\n')).not.toMatch(/export_params/);
});
