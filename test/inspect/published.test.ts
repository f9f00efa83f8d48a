// Parameters and MACs of the published RepVGG models, counted from state dicts that hold shapes only (any
// read of a value fails the test), against the figures published with them (the RepVGG paper and
// mmpretrain's model table: parameters in M, FLOPs in G counted as multiply-accumulates at 224x224).
import { StateDict } from '../../src/formats/state-dict';
import { inspectStateDict } from '../../src/inspect/checkpoint';
import { Tensor } from '../../src/tensor';

const ARCHS: Record<string, { blocks: number[]; m: number[]; grouped?: number }> = {
  'RepVGG-A0': { blocks: [2, 4, 14, 1], m: [0.75, 0.75, 0.75, 2.5] },
  'RepVGG-A1': { blocks: [2, 4, 14, 1], m: [1, 1, 1, 2.5] },
  'RepVGG-B2g4': { blocks: [4, 6, 16, 1], m: [2.5, 2.5, 2.5, 5], grouped: 4 },
  'RepVGG-B3': { blocks: [4, 6, 16, 1], m: [3, 3, 3, 5] },
};

/** An official-scheme training state dict whose tensors have shapes and no values. */
function shapesOnly(name: string): StateDict {
  const a = ARCHS[name];
  const tensors = new Map<string, Tensor>();
  const t = (key: string, shape: number[], dtype: Tensor['dtype'] = 'float32') =>
    tensors.set(key, { dtype, shape, data: { kind: 'lazy', compute: () => { throw new Error(`${key} was read`); } } });
  const bn = (p: string, c: number) => {
    for (const k of ['weight', 'bias', 'running_mean', 'running_var']) t(`${p}.${k}`, [c]);
    t(`${p}.num_batches_tracked`, [], 'int64');
  };
  const widths = [Math.min(64, Math.trunc(64 * a.m[0])), ...[64, 128, 256, 512].map((b, i) => Math.trunc(b * a.m[i]))];
  let cin = 3;
  let layer = 0;
  const block = (key: string, out: number, stride: number) => {
    const groups = a.grouped && layer % 2 === 0 && layer > 0 ? a.grouped : 1;
    if (cin === out && stride === 1) bn(`${key}.rbr_identity`, out);
    t(`${key}.rbr_dense.conv.weight`, [out, cin / groups, 3, 3]);
    bn(`${key}.rbr_dense.bn`, out);
    t(`${key}.rbr_1x1.conv.weight`, [out, cin / groups, 1, 1]);
    bn(`${key}.rbr_1x1.bn`, out);
    cin = out;
    layer++;
  };
  block('stage0', widths[0], 2);
  a.blocks.forEach((n, s) => {
    for (let i = 0; i < n; i++) block(`stage${s + 1}.${i}`, widths[s + 1], i === 0 ? 2 : 1);
  });
  t('linear.weight', [1000, cin]);
  t('linear.bias', [1000]);
  return { tensors, metadata: {}, notes: [] };
}

const M = 1e6;
const G = 1e9;

test.each([
  // name, train params, deploy params, deploy MACs
  ['RepVGG-A0', 9.11, 8.31, 1.36],
  ['RepVGG-A1', 14.09, 12.79, 2.37],
  ['RepVGG-B2g4', null, 55.77, 11.34],
  ['RepVGG-B3', null, 110.96, 26.21],
] as const)('%s: named, with the published parameters and MACs, and no value read', (name, train, deploy, macs) => {
  const r = inspectStateDict(`${name}.pth`, 'pth', shapesOnly(name));
  expect(r.checkpoint!.architecture).toBe(name);
  expect(r.inputShapes).toEqual({ input: [1, 3, 224, 224] });
  // The tables give two decimals, some rounded and some cut: within 0.01 of the figure.
  const near = (got: number, want: number) => expect(Math.abs(got - want)).toBeLessThan(0.01);
  if (train !== null) near(r.before!.parameters / M, train);
  near(r.after!.parameters / M, deploy);
  near(r.after!.macs! / G, macs);
  expect(r.before!.macs!).toBeGreaterThan(r.after!.macs!);
});
