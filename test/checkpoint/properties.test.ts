// Property tests on seeded synthetic classifiers in every classifier scheme: the structure is recovered,
// the deploy state dict keeps the source order, and the deploy graph computes what the train graph does
// (onnxruntime runs BatchNormalization itself in the train graph, so the merge math is checked independently).
import * as fs from 'fs';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { buildDeployOnnx, buildTrainOnnx, convertStateDict, detectScheme, inferArchitecture, SCHEMES } from '../../src/checkpoint';
import { OnnxModel } from '../../src/formats/onnx/read';
import { writeOnnx } from '../../src/formats/onnx/write';
import { relError, tempDir } from '../helpers/fixtures';
import { Rng, rng } from '../helpers/random';
import { ClassifierScheme, NAMES, SyntheticNet, syntheticClassifier } from './synthetic';

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const SCHEMES_UNDER_TEST: readonly ClassifierScheme[] = ['official', 'repvggplus', 'timm', 'mmpretrain'];
const SEEDS = [11, 12, 13, 14, 15, 16];

async function outputOf(model: OnnxModel, name: string, input: Float32Array, shape: readonly number[]): Promise<Float32Array> {
  const file = path.join(dir, `${name}.onnx`);
  writeOnnx(file, model);
  const s = await ort.InferenceSession.create(file, { executionProviders: ['cpu'] });
  try {
    const out = await s.run({ input: new ort.Tensor('float32', input, [...shape]) });
    return out.output.data as Float32Array;
  } finally {
    await s.release();
  }
}

async function forSeedsAsync(seeds: readonly number[], body: (r: Rng) => Promise<void>): Promise<void> {
  for (const seed of seeds) {
    try {
      await body(rng(seed));
    } catch (e) {
      (e as Error).message = `[seed ${seed}] ${(e as Error).message}`;
      throw e;
    }
  }
}

/** The deploy key order the conversion must produce: each block's pair where its first branch key was. */
function expectedOrder(net: SyntheticNet, scheme: ClassifierScheme): string[] {
  const spec = { ...SCHEMES[scheme], ...NAMES[scheme] };
  const branchOf = (key: string) =>
    net.blocks.find((b) => [spec.dense, spec.oneByOne, spec.identity].some((n) => key.startsWith(`${b.name}.${n}.`)));
  const seen = new Set<string>();
  const order: string[] = [];
  for (const key of net.sd.tensors.keys()) {
    const b = branchOf(key);
    if (!b) order.push(key);
    else if (!seen.has(b.name)) {
      seen.add(b.name);
      order.push(`${b.name}.${spec.deploy}.weight`, `${b.name}.${spec.deploy}.bias`);
    }
  }
  return order;
}

describe.each(SCHEMES_UNDER_TEST)('synthetic %s classifiers', (scheme) => {
  test('scheme, structure and key order are recovered', () => {
    for (const seed of SEEDS) {
      const net = syntheticClassifier(rng(seed), scheme);
      const where = `seed ${seed}`;
      expect({ where, scheme: detectScheme(net.sd) }).toEqual({ where, scheme });
      const { tensors, report } = convertStateDict(net.sd);
      expect({ where, keys: [...tensors.keys()] }).toEqual({ where, keys: expectedOrder(net, scheme) });
      expect(report.blocks.map((b) => b.identity)).toEqual(net.blocks.map((b) => b.identity));
      // Pass-through tensors are the very same objects; merged ones are computed on demand.
      for (const [key, t] of tensors) {
        if (net.sd.tensors.has(key)) expect(t).toBe(net.sd.tensors.get(key));
        else expect(t.data.kind).toBe('lazy');
      }
      const arch = inferArchitecture(net.sd);
      const got = arch.blocks.map((b) => ({ name: b.name, in: b.inChannels, out: b.outChannels, groups: b.groups, stride: b.stride, identity: b.identity, se: b.se?.internal ?? 0 }));
      const want = net.blocks.map((b) => ({ name: b.name, in: b.inChannels, out: b.outChannels, groups: b.groups, stride: b.stride, identity: b.identity, se: b.seInternal }));
      expect({ where, blocks: got }).toEqual({ where, blocks: want });
      expect(arch.head?.classes).toBe(net.classes);
      expect(arch.unusedKeys).toEqual([]);
    }
  });

  test('the deploy graph computes what the train graph computes', async () => {
    await forSeedsAsync(SEEDS.slice(0, 4), async (r) => {
      const net = syntheticClassifier(r, scheme, { withSe: r.seed % 2 === 0 });
      const arch = inferArchitecture(net.sd);
      const { tensors } = convertStateDict(net.sd);
      const shape = [2, ...net.inputShape.slice(1)];
      const input = r.floats(shape.reduce((a, b) => a * b, 1), -2, 2);
      const train = await outputOf(buildTrainOnnx(arch, net.sd, { inputShape: net.inputShape }), `${scheme}-${r.seed}-train`, input, shape);
      const deploy = await outputOf(buildDeployOnnx(arch, tensors, { inputShape: net.inputShape }), `${scheme}-${r.seed}-deploy`, input, shape);
      expect(train.length).toBe(2 * net.classes);
      expect(relError(deploy, train)).toBeLessThan(1e-4);
    });
  });
});

test('a BN eps given to both sides keeps them equal, and differs from the default', async () => {
  const r = rng(21);
  const net = syntheticClassifier(r, 'official', { withSe: false });
  // Small variances make eps matter.
  const tensors = new Map(net.sd.tensors);
  for (const [k, t] of net.sd.tensors) if (k.endsWith('running_var')) tensors.set(k, { ...t, data: { kind: 'memory', bytes: new Uint8Array(new Float32Array(t.shape[0]).fill(1e-3).buffer) } });
  const sd = { ...net.sd, tensors };
  const arch = inferArchitecture(sd);
  const input = r.floats(net.inputShape.reduce((a, b) => a * b, 1));
  const eps = 1e-2;
  const train = await outputOf(buildTrainOnnx(arch, sd, { inputShape: net.inputShape, bnEps: eps }), 'eps-train', input, net.inputShape);
  const deploy = await outputOf(buildDeployOnnx(arch, convertStateDict(sd, { bnEps: eps }).tensors, { inputShape: net.inputShape }), 'eps-deploy', input, net.inputShape);
  const deployDefault = await outputOf(buildDeployOnnx(arch, convertStateDict(sd).tensors, { inputShape: net.inputShape }), 'eps-default', input, net.inputShape);
  expect(relError(deploy, train)).toBeLessThan(1e-4);
  expect(relError(deployDefault, train)).toBeGreaterThan(1e-3);
});
