// Where a family's own deploy converter is wrong, this one is right: the numbers each upstream converter
// gets wrong are recorded with the fixtures (meta.json `upstream`, measured by fixtures/generate.py in
// PyTorch); here the same models convert to what their training-time forward computes.
import * as fs from 'fs';
import * as path from 'path';
import { convert } from '../../src/api/convert';
import { convertStateDict } from '../../src/checkpoint';
import { readOnnx } from '../../src/formats/onnx/read';
import { readSafetensors } from '../../src/formats/safetensors';
import { opHistogram } from '../../src/rules/pipeline';
import { toFloat32 } from '../../src/tensor';
import { FIXTURES, caseDir, meta, reference, relError, runModel, tempDir } from '../helpers/fixtures';

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const upstream = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8')).upstream as { output_rel?: number; result?: string; channels_without_identity?: number };

/** A fixture checkpoint converted here, and what its family's own converter made of it. */
function checkpointPair(name: string): { tensors: ReturnType<typeof convertStateDict>['tensors']; expected: ReturnType<typeof readSafetensors> } {
  const ck = path.join(FIXTURES, 'ckpt', name);
  return { tensors: convertStateDict(readSafetensors(path.join(ck, 'train.safetensors'))).tensors, expected: readSafetensors(path.join(ck, 'deploy_expected.safetensors')) };
}

async function converted(c: string): Promise<{ ops: Record<string, number>; rel: number }> {
  const out = path.join(dir, `${c}.onnx`);
  await convert(path.join(caseDir(c), 'train.onnx'), out);
  const m = readOnnx(out);
  const ops = opHistogram(m.graph);
  m.close();
  const got = await runModel(out, c);
  return { ops, rel: relError(got[meta(c).outputs[0]], reference(c, meta(c).outputs[0]).data) };
}

test("YOLOv7's fuse_repvgg_block drops the identity of channels i >= C/g in grouped blocks; here every channel keeps it", async () => {
  for (const c of ['yolov7-repconv-groups-bn', 'yolov7-repconv-groups-folded']) {
    expect(upstream(path.join(caseDir(c), 'meta.json')).output_rel).toBeGreaterThan(0.1);
    const r = await converted(c);
    expect(r.ops).toEqual(meta(c).expect_ops);
    expect(r.rel).toBeLessThan(1e-4);
  }
  // The checkpoint: model.2 (groups 2) and model.3 (groups 4) carry the identity at [i, i mod (C/g)].
  const { tensors, expected } = checkpointPair('yolov7-groups');
  for (const b of ['model.2', 'model.3']) {
    const key = `${b}.rbr_reparam.weight`;
    expect(relError(toFloat32(tensors.get(key)!), toFloat32(expected.tensors.get(key)!))).toBeLessThan(1e-6);
  }
});

test("mmpretrain's deploy block skips its SE layer; here the SE stays after the merged conv", async () => {
  for (const c of ['mmpretrain-repvgg-se-bn', 'mmpretrain-repvgg-se-folded']) {
    expect(upstream(path.join(caseDir(c), 'meta.json')).output_rel).toBeGreaterThan(1);
    const r = await converted(c);
    expect(r.ops.Sigmoid).toBe(8);
    expect(r.ops.Mul).toBe(8);
    expect(r.rel).toBeLessThan(1e-4);
  }
});

test("ACNet's switch_to_deploy fails on BatchNorms without affine parameters; here they fold with gamma 1 and beta 0", async () => {
  expect(upstream(path.join(caseDir('acnet-noaffine-bn'), 'meta.json')).result).toMatch(/TypeError/);
  for (const c of ['acnet-noaffine-bn', 'acnet-noaffine-folded']) {
    const r = await converted(c);
    expect(r.ops).toEqual(meta(c).expect_ops);
    expect(r.rel).toBeLessThan(1e-4);
  }
  const { tensors, expected } = checkpointPair('acnet-noaffine');
  for (const [key, t] of expected.tensors) expect(relError(toFloat32(tensors.get(key)!), toFloat32(t))).toBeLessThan(1e-5);
});
