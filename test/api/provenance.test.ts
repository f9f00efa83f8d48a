// Every output records how it was made: the tool and version, the input and its SHA-256, and the check
// (where it ran, its tolerances, the largest error it measured), in the format's own place, readable back.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { convert, inspect } from '../../src';
import { readProvenance } from '../../src/api/provenance';
import { readZipDirectory, UncachedFileSource } from '../../src/formats/zip/reader';
import { crc32 } from '../../src/formats/zip/crc32';
import { FIXTURES, caseDir, tempDir } from '../helpers/fixtures';

const sha = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');

describe('provenance', () => {
  const dir = tempDir();
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const onnxIn = path.join(caseDir('repvgg-bn'), 'train.onnx');
  const ckptIn = path.join(FIXTURES, 'ckpt', 'official', 'train.pth');

  test.each([
    ['onnx', onnxIn, {}],
    ['onnx', onnxIn, { externalData: true }],
    ['onnx', ckptIn, { inputShape: [1, 3, 32, 32] }],
    ['safetensors', ckptIn, {}],
    ['pth', ckptIn, {}],
  ] as const)('a .%s output (from %s) records its input, digest and check, as the result does', async (format, input, options) => {
    const out = path.join(dir, `out-${Math.random().toString(36).slice(2)}.${format}`);
    const r = await convert(input, out, { ...options, verifyOptions: { ep: 'cpu' } });
    const p = readProvenance(out, format);
    expect(p).toEqual(r.provenance);
    expect(p).toMatchObject({ tool: 'repvgg-convert', version: require('../../package.json').version, input: path.basename(input), inputSha256: sha(input), check: { ok: true, ep: 'cpu', samples: 1, atol: 1e-4, rtol: 1e-4 } });
    const check = p!.check as { maxAbsError: number };
    expect(check.maxAbsError).toBe(Math.max(...Object.values(r.verify!.outputs).map((o) => o.maxAbsError!)));
    expect(fs.readFileSync(out).includes('"pending"')).toBe(false);
  });

  test('a .wts output has no room for it (every line is an entry to its readers): the result carries it', async () => {
    const out = path.join(dir, 'out.wts');
    const r = await convert(ckptIn, out, { verifyOptions: { ep: 'cpu' } });
    expect(r.provenance).toMatchObject({ input: 'train.pth', check: { ok: true } });
    const lines = fs.readFileSync(out, 'utf8').trim().split('\n');
    expect(lines.length - 1).toBe(Number(lines[0]));
  });

  test('inspect reads it back from any output it can read', async () => {
    const out = path.join(dir, 'inspected.safetensors');
    const r = await convert(ckptIn, out, { verifyOptions: { ep: 'cpu' } });
    expect((await inspect(out)).provenance).toEqual(r.provenance);
    expect((await inspect(ckptIn)).provenance).toBeUndefined();
  });

  test('--no-verify records that the check was skipped', async () => {
    const out = path.join(dir, 'skipped.safetensors');
    const r = await convert(ckptIn, out, { verify: false });
    expect(readProvenance(out, 'safetensors')).toMatchObject({ check: { skipped: expect.stringMatching(/not asked for/) }, scheme: 'official' });
    expect(r.provenance?.inputSha256).toBe(sha(ckptIn));
  });

  test("a .pth output's stamp entry keeps a valid CRC-32 in both of its records", async () => {
    const out = path.join(dir, 'crc.pth');
    await convert(ckptIn, out, { verifyOptions: { ep: 'cpu' } });
    const src = new UncachedFileSource(out);
    try {
      const entry = readZipDirectory(src).find((e) => e.name.endsWith('/.data/repvgg-convert.json'))!;
      const data = src.read(entry.dataOffset, entry.size);
      expect(entry.crc32 >>> 0).toBe(crc32(data) >>> 0);
      const descriptor = Buffer.from(src.read(entry.dataOffset + entry.size, 8));
      expect(descriptor.readUInt32LE(4)).toBe(crc32(data) >>> 0);
    } finally {
      src.close();
    }
  });
});
