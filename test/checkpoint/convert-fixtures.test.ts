// Every PyTorch-made checkpoint case converts to exactly the deploy state dict PyTorch produced.
import * as fs from 'fs';
import * as path from 'path';
import { SchemeName, convertStateDict, detectScheme, inspectCheckpoint } from '../../src/checkpoint';
import { readSafetensors, writeSafetensors } from '../../src/formats/safetensors';
import { readPth, writePth } from '../../src/formats/pth';
import { StateDict } from '../../src/formats/state-dict';
import { Tensor, tensorBytes, toFloat32 } from '../../src/tensor';
import { FIXTURES, relError, tempDir } from '../helpers/fixtures';

const CKPT = path.join(FIXTURES, 'ckpt');
const CASES = [
  'official', 'official-g2-se', 'repvggplus', 'timm', 'mmpretrain', 'yolov6', 'yolov7', 'yolov7-groups', 'yolov6-qarepvgg', 'yolov6-qarepvgg2',
  'mobileone-apple-s0', 'mobileone-apple-s4', 'mobileone-timm-s0', 'acnet', 'acnet-noaffine', 'dbb',
];
/** QARepVGG's two versions store the same keys: where they differ, the version is named, not guessed. */
const NAMED: Record<string, SchemeName> = { 'yolov6-qarepvgg': 'yolov6-qarepvgg', 'yolov6-qarepvgg2': 'yolov6-qarepvgg2' };

interface CkptMeta {
  readonly scheme: string;
  readonly eps: number;
  readonly blocks: number;
  readonly train_keys: number;
  readonly deploy_keys: number;
  readonly dropped_prefixes: string[];
}
const FLOATS = new Set(['float32', 'float16', 'bfloat16', 'float64']);
const meta = (c: string): CkptMeta => JSON.parse(fs.readFileSync(path.join(CKPT, c, 'meta.json'), 'utf8'));

function expectSameTensors(got: ReadonlyMap<string, Tensor>, expected: StateDict): void {
  expect([...got.keys()]).toEqual([...expected.tensors.keys()]);
  for (const [key, want] of expected.tensors) {
    const have = got.get(key)!;
    expect({ key, shape: [...have.shape] }).toEqual({ key, shape: [...want.shape] });
    // Pass-through tensors keep their stored dtype; compare floats by value.
    if (FLOATS.has(want.dtype) && FLOATS.has(have.dtype)) {
      const err = relError(toFloat32(have), toFloat32(want));
      if (!(err <= 1e-5)) throw new Error(`${key}: relative error ${err}`);
    } else {
      expect({ key, dtype: have.dtype }).toEqual({ key, dtype: want.dtype });
      expect(Buffer.from(tensorBytes(have)).equals(Buffer.from(tensorBytes(want)))).toBe(true);
    }
  }
}

describe.each(CASES)('checkpoint case %s', (c) => {
  const m = meta(c);

  test('its deploy form is recognized as such', () => {
    const deploy = readSafetensors(path.join(CKPT, c, 'deploy_expected.safetensors'));
    expect(detectScheme(deploy)).toBe(m.scheme);
    const report = inspectCheckpoint(deploy);
    expect(report.form).toBe('deploy');
    expect(report.deployBlocks).toHaveLength(m.blocks);
  });

  test('the scheme is detected from the keys', () => {
    const sd = readSafetensors(path.join(CKPT, c, 'train.safetensors'));
    if (NAMED[c]) expect(() => detectScheme(sd)).toThrow(/QARepVGG's, whose two versions store the same keys/);
    else expect(detectScheme(sd)).toBe(m.scheme);
  });

  test.each(['train.safetensors', 'train.pth'])('%s converts to deploy_expected', (file) => {
    const full = path.join(CKPT, c, file);
    const sd = file.endsWith('.pth') ? readPth(full) : readSafetensors(full);
    expect(sd.tensors.size).toBe(m.train_keys);
    const { tensors, report } = convertStateDict(sd, NAMED[c] ? { scheme: NAMED[c] } : {});
    expect(report.scheme).toBe(NAMED[c] ?? m.scheme);
    expect(report.bnEps).toBe(m.eps);
    expect(report.blocks).toHaveLength(m.blocks);
    expect(report.tensorsOut).toBe(m.deploy_keys);
    expectSameTensors(tensors, readSafetensors(path.join(CKPT, c, 'deploy_expected.safetensors')));
    for (const prefix of m.dropped_prefixes) {
      expect(report.dropped.some((d) => d.key.startsWith(prefix))).toBe(true);
    }
  });
});

describe('checkpoint variants (containers, dtypes, storage views)', () => {
  const dir = path.join(CKPT, 'variants');
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as {
    files: { file: string; expected_deploy: string; already_deploy?: boolean }[];
  };
  const read = (file: string) => (file.endsWith('.pth') ? readPth(path.join(dir, file)) : readSafetensors(path.join(dir, file)));
  // legacy.pth is refused by the reader (see test/formats); the rest must convert.
  const convertible = manifest.files.filter((f) => !f.already_deploy && f.file !== 'legacy.pth');

  test.each(convertible.map((f) => [f.file, f.expected_deploy]))('%s converts to %s', (file, expected) => {
    const { tensors, report } = convertStateDict(read(file));
    expect(report.scheme).toBe('official');
    expectSameTensors(tensors, readSafetensors(path.join(dir, expected)));
  });

  test('narrow dtypes merge in float32 and say so; pass-through tensors keep theirs', () => {
    for (const [file, dtype] of [['official-f16.safetensors', 'float16'], ['official-bf16.safetensors', 'bfloat16']]) {
      const { tensors, report } = convertStateDict(read(file));
      expect(tensors.get('stage0.rbr_reparam.weight')!.dtype).toBe('float32');
      expect(tensors.get('linear.weight')!.dtype).toBe(dtype);
      expect(report.notes.some((n) => n.includes('float32'))).toBe(true);
    }
  });

  test.each(manifest.files.filter((f) => f.already_deploy).map((f) => f.file))('%s is already converted: inspected, not converted again', (file) => {
    const sd = read(file);
    const report = inspectCheckpoint(sd);
    expect(report.form).toBe('deploy');
    expect(report.blocks).toHaveLength(0);
    expect(report.deployBlocks).toContain('stage0');
    expect(() => convertStateDict(sd)).toThrow(/already in deploy form/);
  });
});

test('converted tensors stream through the safetensors and .pth writers', () => {
  const dir = tempDir();
  try {
    const { tensors } = convertStateDict(readPth(path.join(CKPT, 'official-g2-se', 'train.pth')));
    const expected = readSafetensors(path.join(CKPT, 'official-g2-se', 'deploy_expected.safetensors'));
    writeSafetensors(path.join(dir, 'deploy.safetensors'), tensors);
    writePth(path.join(dir, 'deploy.pth'), tensors);
    expectSameTensors(readSafetensors(path.join(dir, 'deploy.safetensors')).tensors, expected);
    expectSameTensors(readPth(path.join(dir, 'deploy.pth')).tensors, expected);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
