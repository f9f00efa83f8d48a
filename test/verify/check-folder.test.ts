// The check loads graphs whose weights are the bytes of the files they sit in (hard links beside the
// output): the graph file is small, the numbers are the same as loading the file itself, and a file
// that cannot be linked is loaded as it is.
import * as fs from 'fs';
import * as path from 'path';
import { readOnnx } from '../../src/formats/onnx/read';
import { verifyModels } from '../../src/verify';
import { CheckFolder } from '../../src/verify/check-folder';
import { caseDir, tempDir } from '../helpers/fixtures';

describe('CheckFolder', () => {
  const dir = tempDir();
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const deploy = path.join(caseDir('repvgg-bn'), 'deploy_ref.onnx');
  const train = path.join(caseDir('repvgg-bn'), 'train.onnx');

  test('a graph that references its weights where they sit checks the same as the file itself', async () => {
    const copy = path.join(dir, 'deploy.onnx');
    fs.copyFileSync(deploy, copy);
    const folder = CheckFolder.beside(copy);
    try {
      const m = readOnnx(copy);
      const put = folder.put('candidate', m);
      m.close();
      expect(put.referencedBytes).toBeGreaterThan(20_000);
      expect(fs.statSync(put.path).size).toBeLessThan(fs.statSync(copy).size / 4);
      expect(put.unlinked).toEqual([]);
      const viaFolder = await verifyModels(train, put.path, { ep: 'cpu', samples: 2 });
      const direct = await verifyModels(train, copy, { ep: 'cpu', samples: 2 });
      expect(viaFolder.ok).toBe(true);
      expect(viaFolder.outputs).toEqual(direct.outputs);
    } finally {
      folder.remove();
    }
    expect(fs.readdirSync(dir)).toEqual(['deploy.onnx']);
  });

  test('a weight changed in the file is what the check sees', async () => {
    const copy = path.join(dir, 'changed.onnx');
    fs.copyFileSync(deploy, copy);
    const m = readOnnx(copy);
    const w = m.graph.initializers().find((v) => v.initializer!.tensor.shape.length === 4)!;
    const range = (w.initializer!.tensor.data as { range: { offset: number } }).range;
    m.close();
    const bytes = fs.readFileSync(copy);
    bytes.writeFloatLE(bytes.readFloatLE(range.offset) + 1, range.offset);
    fs.writeFileSync(copy, bytes);
    const folder = CheckFolder.beside(copy);
    try {
      const r = await verifyModels(train, folder.graphFor('candidate', copy), { ep: 'cpu' });
      expect(r.ok).toBe(false);
    } finally {
      folder.remove();
    }
  });

  test('weights in a file that cannot be linked: the file itself is loaded', () => {
    const exdev = () => {
      throw Object.assign(new Error('cross-device link'), { code: 'EXDEV' });
    };
    const folder = CheckFolder.beside(path.join(dir, 'x.onnx'), { link: exdev });
    try {
      const m = readOnnx(deploy);
      expect(folder.canReference(m)).toBe(false);
      m.close();
      expect(folder.graphFor('reference', deploy)).toBe(deploy);
    } finally {
      folder.remove();
    }
  });
});
