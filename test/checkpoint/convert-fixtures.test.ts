// Every PyTorch-made checkpoint case converts to exactly the deploy state dict PyTorch produced.
import * as fs from 'fs';
import * as path from 'path';
import { convertStateDict, detectScheme } from '../../src/checkpoint';
import { readSafetensors } from '../../src/formats/safetensors';
import { readPth } from '../../src/formats/pth';
import { StateDict } from '../../src/formats/state-dict';
import { Tensor, tensorBytes, toFloat32 } from '../../src/tensor';
import { FIXTURES, relError } from '../helpers/fixtures';

const CKPT = path.join(FIXTURES, 'ckpt');
const CASES = ['official', 'official-g2-se', 'repvggplus', 'timm', 'mmpretrain', 'yolov6', 'yolov7'];

interface CkptMeta {
  readonly scheme: string;
  readonly eps: number;
  readonly blocks: number;
  readonly train_keys: number;
  readonly deploy_keys: number;
  readonly dropped_prefixes: string[];
}
const meta = (c: string): CkptMeta => JSON.parse(fs.readFileSync(path.join(CKPT, c, 'meta.json'), 'utf8'));

function expectSameTensors(got: ReadonlyMap<string, Tensor>, expected: StateDict): void {
  expect([...got.keys()]).toEqual([...expected.tensors.keys()]);
  for (const [key, want] of expected.tensors) {
    const have = got.get(key)!;
    expect({ key, shape: [...have.shape] }).toEqual({ key, shape: [...want.shape] });
    if (want.dtype === 'float32' && have.dtype === 'float32') {
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

  test('the scheme is detected from the keys', () => {
    expect(detectScheme(readSafetensors(path.join(CKPT, c, 'train.safetensors')))).toBe(m.scheme);
  });

  test.each(['train.safetensors', 'train.pth'])('%s converts to deploy_expected', (file) => {
    const full = path.join(CKPT, c, file);
    const sd = file.endsWith('.pth') ? readPth(full) : readSafetensors(full);
    expect(sd.tensors.size).toBe(m.train_keys);
    const { tensors, report } = convertStateDict(sd);
    expect(report.scheme).toBe(m.scheme);
    expect(report.bnEps).toBe(m.eps);
    expect(report.blocks).toHaveLength(m.blocks);
    expect(report.tensorsOut).toBe(m.deploy_keys);
    expectSameTensors(tensors, readSafetensors(path.join(CKPT, c, 'deploy_expected.safetensors')));
    for (const prefix of m.dropped_prefixes) {
      expect(report.dropped.some((d) => d.key.startsWith(prefix))).toBe(true);
    }
  });
});
