// ONNX built from PyTorch-made checkpoints reproduces PyTorch's own outputs in onnxruntime.
import * as fs from 'fs';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { buildDeployOnnx, buildTrainOnnx, convertStateDict, inferArchitecture } from '../../src/checkpoint';
import { writeOnnx } from '../../src/formats/onnx/write';
import { OnnxModel } from '../../src/formats/onnx/read';
import { readSafetensors } from '../../src/formats/safetensors';
import { opHistogram, reparameterize } from '../../src/rules/pipeline';
import { toFloat32 } from '../../src/tensor';
import { FIXTURES, readArray, relError, tempDir } from '../helpers/fixtures';

const CKPT = path.join(FIXTURES, 'ckpt');
const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function run(model: OnnxModel, name: string, input: { shape: number[]; data: Float32Array }): Promise<Float32Array> {
  const file = path.join(dir, `${name}.onnx`);
  writeOnnx(file, model);
  const s = await ort.InferenceSession.create(file, { executionProviders: ['cpu'] });
  try {
    const out = await s.run({ input: new ort.Tensor('float32', input.data, input.shape) });
    return out.output.data as Float32Array;
  } finally {
    await s.release();
  }
}

describe.each(['official', 'official-g2-se', 'mobileone-apple-s0', 'mobileone-apple-s4', 'mobileone-timm-s0'])('%s checkpoint as ONNX', (c) => {
  const sd = readSafetensors(path.join(CKPT, c, 'train.safetensors'));
  const input = readArray(path.join(CKPT, c, 'input'));
  const ref = readArray(path.join(CKPT, c, 'ref_train'));

  test('train graph from the weights matches PyTorch', async () => {
    const arch = inferArchitecture(sd);
    const got = await run(buildTrainOnnx(arch, sd, { inputShape: input.shape }), `${c}-train`, input);
    expect(got.length).toBe(ref.data.length);
    expect(relError(got, ref.data)).toBeLessThan(1e-4);
  });

  test('deploy graph from the converted weights matches PyTorch', async () => {
    const arch = inferArchitecture(sd);
    const { tensors } = convertStateDict(sd);
    const got = await run(buildDeployOnnx(arch, tensors, { inputShape: input.shape }), `${c}-deploy`, input);
    expect(relError(got, ref.data)).toBeLessThan(1e-4);
  });

  test('a deploy checkpoint alone gives the same deploy graph', async () => {
    const deploy = readSafetensors(path.join(CKPT, c, 'deploy_expected.safetensors'));
    const arch = inferArchitecture(deploy);
    expect(arch.form).toBe('deploy');
    expect(() => buildTrainOnnx(arch, deploy, { inputShape: input.shape })).toThrow(/already a single conv/);
    const got = await run(buildDeployOnnx(arch, deploy.tensors, { inputShape: input.shape }), `${c}-from-deploy`, input);
    expect(relError(got, ref.data)).toBeLessThan(1e-4);
  });

  test.each([9, 11, 17, 21])('both graphs at opset %i run and match too', async (opset) => {
    const arch = inferArchitecture(sd);
    const train = await run(buildTrainOnnx(arch, sd, { inputShape: input.shape, opset }), `${c}-train-${opset}`, input);
    const deploy = await run(buildDeployOnnx(arch, convertStateDict(sd).tensors, { inputShape: input.shape, opset }), `${c}-deploy-${opset}`, input);
    expect(relError(train, ref.data)).toBeLessThan(1e-4);
    expect(relError(deploy, ref.data)).toBeLessThan(1e-4);
  });
});

test.each(['official-g2-se', 'repvggplus', 'timm', 'mmpretrain', 'mobileone-apple-s0', 'mobileone-timm-s0'])('the ONNX rules turn the %s train graph into the deploy graph, with the converted weights', (c) => {
  const sd = readSafetensors(path.join(CKPT, c, 'train.safetensors'));
  const arch = inferArchitecture(sd);
  const { tensors } = convertStateDict(sd);
  const shape = c.startsWith('mobileone') ? [1, 3, 64, 64] : [1, 3, 32, 32];
  const train = buildTrainOnnx(arch, sd, { inputShape: shape });
  const report = reparameterize(train.graph);
  expect(report.refusals).toEqual([]);
  expect(opHistogram(train.graph)).toEqual(opHistogram(buildDeployOnnx(arch, tensors, { inputShape: shape }).graph));
  // The ONNX rules name every merged conv rbr_reparam; the checkpoint uses the scheme's own deploy name.
  for (const b of arch.blocks) {
    for (const leaf of ['weight', 'bias'] as const) {
      const key = leaf === 'weight' ? b.deploy.weight : b.deploy.bias!;
      const v = train.graph.value(key) ?? train.graph.value(`${b.name}.rbr_reparam.${leaf}`);
      expect({ key, found: !!v?.initializer }).toEqual({ key, found: true });
      const err = relError(toFloat32(v!.initializer!.tensor), toFloat32(tensors.get(key)!));
      if (!(err <= 1e-6)) throw new Error(`${key}: relative error ${err}`);
    }
  }
});
