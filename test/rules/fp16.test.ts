// --dtype fp16: every fixture converts to a float16 deploy model that verifies against the float32
// training model at the FP16 tolerances, with float16 I/O or float32 I/O kept by Casts; weights past
// the float16 range are refused by name.
import * as fs from 'fs';
import * as path from 'path';
import { convert } from '../../src/api/convert';
import { UserError } from '../../src/errors';
import { readOnnx } from '../../src/formats/onnx/read';
import { toFloat16 } from '../../src/rules/fp16';
import { reparameterize } from '../../src/rules/pipeline';
import { DEFAULT_ATOL, DEFAULT_ATOL_FP16, DEFAULT_RTOL, DEFAULT_RTOL_FP16 } from '../../src/verify';
import { caseDir, tempDir } from '../helpers/fixtures';

// repvgg-init-inputs-bn lists every weight among the graph inputs: those declarations turn float16 too.
const CASES = ['repvgg-bn', 'repvgg-se-folded', 'repvgg-g4-bn', 'detect-bn', 'mobileone-bn', 'acnet-bn', 'repvgg-init-inputs-bn'];

describe('FP16 deploy models', () => {
  const dir = tempDir();
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test.each(CASES)('%s: float16 I/O verifies at the FP16 tolerances and reports the FP32 excess', async (c) => {
    const out = path.join(dir, `${c}-fp16.onnx`);
    const res = await convert(path.join(caseDir(c), 'train.onnx'), out, { dtype: 'fp16', verifyOptions: { samples: 2 } });
    expect(res.verify).toMatchObject({ ok: true, atol: DEFAULT_ATOL_FP16, rtol: DEFAULT_RTOL_FP16 });
    // The merge itself is held to the FP32 tolerances before the cast.
    expect(res.verifyFp32).toMatchObject({ ok: true, atol: DEFAULT_ATOL, rtol: DEFAULT_RTOL, precision: 'fp32' });
    for (const o of Object.values(res.verify!.outputs)) expect(o.fp32Exceed).toEqual(expect.objectContaining({ count: expect.any(Number) }));
    const m = readOnnx(out);
    expect(m.graph.initializers().filter((v) => v.initializer!.tensor.dtype === 'float32' && !v.uses.every((u) => u.node.opType === 'Resize'))).toEqual([]);
    expect(m.graph.inputs[0].type?.elemType).toBe(10);
    for (const v of m.graph.inputs.filter((x) => x.initializer)) expect([v.name, v.type?.elemType]).toEqual([v.name, 10]);
    m.close();
  });

  test('--keep-io-types keeps float32 inputs and outputs with Casts at the boundary', async () => {
    const out = path.join(dir, 'keep.onnx');
    const res = await convert(path.join(caseDir('detect-bn'), 'train.onnx'), out, { dtype: 'fp16', keepIoTypes: true });
    expect(res.verify?.ok).toBe(true);
    const m = readOnnx(out);
    expect(m.graph.inputs[0].type?.elemType).toBe(1);
    expect(m.graph.outputs.map((o) => o.producer?.opType)).toEqual(['Cast', 'Cast']);
    expect(m.graph.outputs.map((o) => o.name)).toEqual(['p3', 'p4']);
    m.close();
  });

  test('a weight past ±65504 is refused by name, never clamped', () => {
    const m = readOnnx(path.join(caseDir('repvgg-bn'), 'train.onnx'));
    reparameterize(m.graph);
    const w = m.graph.initializers().find((v) => v.initializer!.tensor.shape.length === 4)!;
    const big = new Float32Array(w.initializer!.tensor.shape.reduce((a, b) => a * b, 1)).fill(1);
    big[3] = 1e6;
    m.graph.replaceInitializer(w, { tensor: { dtype: 'float32', shape: w.initializer!.tensor.shape, data: { kind: 'memory', bytes: new Uint8Array(big.buffer) } } });
    expect(() => toFloat16(m)).toThrow(UserError);
    expect(() => toFloat16(m)).toThrow(new RegExp(`exceed the float16 range .*${w.name.replace(/\./g, '\\.')}`));
    m.close();
  });
});
