// FP16 headroom: an FP16 conversion reports each block's largest activation on the check's inputs
// against float16's largest value, and the trtexec flags that keep overflowing blocks in float32.
import * as fs from 'fs';
import * as path from 'path';
import { convert, ConversionCheckFailed } from '../../src';
import { fp16Headroom } from '../../src/api/fp16-headroom';
import { caseDir, tempDir } from '../helpers/fixtures';
import type { VerifyReport } from '../../src/verify';

const train = path.join(caseDir('repvgg-bn'), 'train.onnx');

describe('FP16 headroom', () => {
  const dir = tempDir();
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('every merged block is measured; ordinary inputs leave them all far below 65504', async () => {
    const r = await convert(train, path.join(dir, 'f16.onnx'), { dtype: 'fp16', verifyOptions: { ep: 'cpu' } });
    const h = r.fp16Headroom!;
    expect(h.limit).toBe(65504);
    expect(h.blocks.length).toBe(8);
    expect(h.blocks.every((b) => b.maxAbs > 0 && b.headroom > 100)).toBe(true);
    expect(h.mustStayFp32).toEqual([]);
    expect(h.trtexecFlags).toBeUndefined();
  });

  test('inputs large enough to overflow float16 name the blocks that must stay float32, with trtexec flags', async () => {
    const x = new Float32Array(3 * 32 * 32).map((_, i) => 40000 * Math.sin(i * 0.37));
    const bin = path.join(dir, 'big.bin');
    fs.writeFileSync(bin, Buffer.from(x.buffer));
    const e = await convert(train, path.join(dir, 'f16-big.onnx'), { dtype: 'fp16', verifyOptions: { ep: 'cpu', inputs: [`${bin}:1x3x32x32`] } }).catch((err) => err);
    // The float16 file cannot hold such activations: its own check fails, and says why.
    const result = e instanceof ConversionCheckFailed ? e.result : e;
    const h = result.fp16Headroom!;
    expect(h.mustStayFp32.length).toBeGreaterThan(0);
    expect(h.mustStayFp32[0]).toBe('/stage0/rbr_reparam/Conv');
    expect(h.trtexecFlags).toBe(`--precisionConstraints=obey --layerPrecisions=${h.mustStayFp32.map((n: string) => `${n}:fp32`).join(',')}`);
  });

  test('a layer name holding trtexec separators is quoted', () => {
    const block = { value: 'v', node: 'a:b,c', opType: 'Conv', ok: true, maxAbsCandidate: 1e6 };
    const h = fp16Headroom({ blocks: [block] } as unknown as VerifyReport)!;
    expect(h.trtexecFlags).toBe("--precisionConstraints=obey --layerPrecisions='a:b,c':fp32");
  });
});
