// Naming the block: a deploy model with one merged conv's weights perturbed is found at that conv, with
// --per-block and by itself after a failed check; a true pair matches at every block end.
import * as fs from 'fs';
import * as path from 'path';
import { convert, verify } from '../../src';
import { readOnnx } from '../../src/formats/onnx/read';
import { caseDir, tempDir } from '../helpers/fixtures';

const train = path.join(caseDir('repvgg-bn'), 'train.onnx');
const deploy = path.join(caseDir('repvgg-bn'), 'deploy_ref.onnx');

/** A copy of the deploy model with the `k`-th Conv's weights scaled by 1.5; returns it and that Conv's name. */
function perturbed(dir: string, k: number): { file: string; node: string } {
  const m = readOnnx(deploy);
  const conv = m.graph.nodes.filter((n) => n.opType === 'Conv')[k];
  const range = (conv.inputs[1]!.initializer!.tensor.data as { range: { offset: number; length: number } }).range;
  m.close();
  const bytes = fs.readFileSync(deploy);
  for (let at = range.offset; at < range.offset + range.length; at += 4) bytes.writeFloatLE(bytes.readFloatLE(at) * 1.5, at);
  const file = path.join(dir, `perturbed-${k}.onnx`);
  fs.writeFileSync(file, bytes);
  return { file, node: conv.name! };
}

describe('per-block', () => {
  const dir = tempDir();
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('a true pair matches at every block end', async () => {
    const r = await verify(train, deploy, { ep: 'cpu', perBlock: true });
    expect(r.ok).toBe(true);
    expect(r.blocks!.length).toBeGreaterThanOrEqual(8);
    expect(r.blocks!.every((b) => b.ok)).toBe(true);
    expect(r.firstDifference).toBeUndefined();
    expect(Object.keys(r.outputs)).toEqual(['output']);
  });

  // PyTorch's own deploy export names its convs' outputs anew, so the values both graphs share are the
  // activations: the first that differs is the perturbed block's.
  test.each([1, 4])("--per-block names the block of the perturbed conv (conv %i) first, in PyTorch's deploy export", async (k) => {
    const { file, node } = perturbed(dir, k);
    const block = node.split('/').slice(0, -2).join('/'); // /stage1/stage1.0 of /stage1/stage1.0/rbr_reparam/Conv
    const r = await verify(train, file, { ep: 'cpu', perBlock: true });
    expect(r.ok).toBe(false);
    expect(r.firstDifference!.node.startsWith(`${block}/`)).toBe(true);
    expect(r.blocks!.slice(0, r.blocks!.indexOf(r.firstDifference!)).every((b) => b.ok)).toBe(true);
  });

  test('in a deploy model this tool made, the merged conv keeps the block sum\'s value: it is named itself', async () => {
    const ours = path.join(dir, 'ours.onnx');
    await convert(train, ours, { verify: false });
    const m = readOnnx(ours);
    const conv = m.graph.nodes.filter((n) => n.opType === 'Conv')[2];
    const range = (conv.inputs[1]!.initializer!.tensor.data as { range: { offset: number; length: number } }).range;
    m.close();
    const bytes = fs.readFileSync(ours);
    for (let at = range.offset; at < range.offset + range.length; at += 4) bytes.writeFloatLE(bytes.readFloatLE(at) * 1.5, at);
    fs.writeFileSync(ours, bytes);
    const r = await verify(train, ours, { ep: 'cpu', perBlock: true });
    expect(r.firstDifference).toMatchObject({ node: conv.name, opType: 'Conv' });
  });

  test('a failed check names the block by itself, and leaves nothing in TMPDIR', async () => {
    const { file, node } = perturbed(dir, 3);
    const block = node.split('/').slice(0, -2).join('/');
    const tmp = fs.mkdtempSync(path.join(dir, 'tmp-'));
    const before = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    try {
      const r = await verify(train, file, { ep: 'cpu' });
      expect(r.ok).toBe(false);
      expect(r.firstDifference!.node.startsWith(`${block}/`)).toBe(true);
      expect(Object.keys(r.outputs)).toEqual(['output']);
    } finally {
      process.env.TMPDIR = before;
    }
    expect(fs.readdirSync(tmp)).toEqual([]);
  });
});
