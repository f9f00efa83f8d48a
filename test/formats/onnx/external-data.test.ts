// External data: models written with their tensors in "<model>.data" read back equal, run the same in
// onnxruntime, verify while staged and commit as a pair; models whose tensors sit in several files read.
import * as fs from 'fs';
import * as path from 'path';
import { convert } from '../../../src/api/convert';
import { UserError } from '../../../src/errors';
import { committedFiles, removeStagedFiles } from '../../../src/formats/atomic-file';
import { FileSource } from '../../../src/formats/bytes';
import { externalNumber, openDataFile } from '../../../src/formats/onnx/data-location';
import { EXTERNAL_ALIGNMENT, INLINE_BELOW, PROTOBUF_LIMIT, externalTensorProto, useExternalData } from '../../../src/formats/onnx/external-data';
import { OnnxModel, readOnnx } from '../../../src/formats/onnx/read';
import { encodeModel, stageOnnx, streamParts, writeOnnx } from '../../../src/formats/onnx/write';
import { writeFileAtomic } from '../../../src/formats/atomic-file';
import { reparameterize } from '../../../src/rules/pipeline';
import { byteLength, tensorBytes } from '../../../src/tensor';
import { verifyModels } from '../../../src/verify';
import { rejection } from '../../helpers/errors';
import { caseDir, reference, relError, runModel, tempDir } from '../../helpers/fixtures';

const CASE = 'repvgg-bn';
const train = path.join(caseDir(CASE), 'train.onnx');

function deployModel(): OnnxModel {
  const m = readOnnx(train);
  reparameterize(m.graph);
  return m;
}

/** name → bytes of every initializer. */
function weights(file: string): Map<string, Uint8Array> {
  const m = readOnnx(file);
  try {
    return new Map(m.graph.initializers().map((v) => [v.name, Uint8Array.from(tensorBytes(v.initializer!.tensor))]));
  } finally {
    m.close();
  }
}

/** Where each initializer's bytes live: file base name and offset (undefined: inline). */
function placement(file: string): Map<string, { file: string; offset: number; length: number } | undefined> {
  const m = readOnnx(file);
  try {
    return new Map(
      m.graph.initializers().map((v) => {
        const d = v.initializer!.tensor.data;
        const external = d.kind === 'range' && d.range.source !== m.source;
        return [v.name, external ? { file: path.basename(d.range.source.name), offset: d.range.offset, length: d.range.length } : undefined];
      }),
    );
  } finally {
    m.close();
  }
}

test('a model written with external data reads back equal, at 4096-aligned offsets, and runs the same', async () => {
  const dir = tempDir();
  const inline = path.join(dir, 'inline.onnx');
  const external = path.join(dir, 'deploy.onnx');
  const a = deployModel();
  const b = deployModel();
  try {
    writeOnnx(inline, a);
    const r = writeOnnx(external, b, { externalData: true });
    expect(r.externalData).toEqual({ path: path.join(dir, 'deploy.onnx.data'), bytes: fs.statSync(path.join(dir, 'deploy.onnx.data')).size, tensors: expect.any(Number) });
    expect(r.bytes).toBe(fs.statSync(external).size + r.externalData!.bytes);
  } finally {
    a.close();
    b.close();
  }
  expect(fs.readdirSync(dir).sort()).toEqual(['deploy.onnx', 'deploy.onnx.data', 'inline.onnx']);
  expect(weights(external)).toEqual(weights(inline));

  const where = placement(external);
  const sizes = weights(inline);
  let outside = 0;
  for (const [name, at] of where) {
    if (sizes.get(name)!.length < INLINE_BELOW) expect(at).toBeUndefined();
    else {
      expect(at).toEqual({ file: 'deploy.onnx.data', offset: expect.any(Number), length: sizes.get(name)!.length });
      expect(at!.offset % EXTERNAL_ALIGNMENT).toBe(0);
      outside++;
    }
  }
  expect(outside).toBeGreaterThan(4);
  expect(fs.statSync(external).size).toBeLessThan(fs.statSync(inline).size / 2);

  const want = await runModel(inline, CASE);
  const got = await runModel(external, CASE);
  expect(got.output).toEqual(want.output);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a staged model and its data verify from the staging folder and commit together', async () => {
  const dir = tempDir();
  const out = path.join(dir, 'deploy.onnx');
  // An older pair under the same names is replaced only on commit.
  fs.writeFileSync(out, 'old model');
  fs.writeFileSync(`${out}.data`, 'old data');
  const m = deployModel();
  try {
    const before = committedFiles().length;
    const staged = stageOnnx(out, m, { externalData: true });
    // Files put in place inside the staging folder are not outputs yet.
    expect(committedFiles().length).toBe(before);
    expect(path.basename(staged.tmp)).toBe('deploy.onnx');
    expect(path.dirname(staged.tmp)).not.toBe(dir);
    expect(fs.existsSync(path.join(path.dirname(staged.tmp), 'deploy.onnx.data'))).toBe(true);
    expect(fs.readFileSync(`${out}.data`, 'utf8')).toBe('old data');
    const report = await verifyModels(train, staged.tmp);
    expect(report.ok).toBe(true);
    staged.commit();
    expect(committedFiles().slice(before)).toEqual([`${out}.data`, out]);
  } finally {
    m.close();
  }
  expect(fs.readdirSync(dir).sort()).toEqual(['deploy.onnx', 'deploy.onnx.data']);
  expect(relError((await runModel(out, CASE)).output, reference(CASE, 'output').data)).toBeLessThan(1e-4);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('abort, a failing tensor and a signal leave no staging folder behind', () => {
  const dir = tempDir();
  const out = path.join(dir, 'deploy.onnx');
  const m = deployModel();
  try {
    stageOnnx(out, m, { externalData: true }).abort();
    expect(fs.readdirSync(dir)).toEqual([]);

    const staged = stageOnnx(out, m, { externalData: true });
    expect(fs.readdirSync(dir)).toHaveLength(1);
    removeStagedFiles();
    expect(fs.existsSync(staged.tmp)).toBe(false);
    expect(fs.readdirSync(dir)).toEqual([]);

    // A merged weight that fails while the data file is written.
    const v = m.graph.initializers().find((x) => byteLength(x.initializer!.tensor) >= INLINE_BELOW)!;
    const t = v.initializer!.tensor;
    m.graph.replaceInitializer(v, { tensor: { ...t, data: { kind: 'lazy', compute: () => { throw new UserError('bad weight'); } } } });
    expect(() => stageOnnx(out, m, { externalData: true })).toThrow('bad weight');
    expect(fs.readdirSync(dir)).toEqual([]);
  } finally {
    m.close();
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test('external data is used when asked, and always when the model would pass 2 GiB', () => {
  expect(useExternalData(undefined, 1000)).toBe(false);
  expect(useExternalData(false, 1000)).toBe(false);
  expect(useExternalData(undefined, PROTOBUF_LIMIT)).toBe(false);
  expect(useExternalData(undefined, PROTOBUF_LIMIT + 1)).toBe(true);
  expect(useExternalData(false, PROTOBUF_LIMIT + 1)).toBe(true);
  expect(useExternalData(true, 1000)).toBe(true);

  // A 2.2 GB weight that is never computed: the sizes alone decide, and the data file is the first thing written.
  const dir = tempDir();
  const m = deployModel();
  try {
    const v = m.graph.initializers().find((x) => byteLength(x.initializer!.tensor) >= INLINE_BELOW)!;
    const huge = { dtype: 'float32' as const, shape: [550_000_000], data: { kind: 'lazy' as const, compute: (): Uint8Array => { throw new Error('not computed'); } } };
    m.graph.replaceInitializer(v, { tensor: huge });
    expect(() => stageOnnx(path.join(dir, 'big.onnx'), m, { externalData: false })).toThrow('not computed');
  } finally {
    m.close();
  }
  expect(fs.readdirSync(dir)).toEqual([]);
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh folder holding a.onnx, a deploy model whose tensors are in a.onnx.data. */
function withDataFile(): string {
  const dir = tempDir();
  const m = deployModel();
  try {
    writeOnnx(path.join(dir, 'a.onnx'), m, { externalData: true });
  } finally {
    m.close();
  }
  return dir;
}

test('the data file never replaces a file the model reads from', () => {
  const dir = withDataFile();
  // b.onnx (a copy of a.onnx) reads a.onnx.data; writing "a.onnx" elsewhere is fine, but a model named so that its data file is a.onnx.data is not.
  fs.copyFileSync(path.join(dir, 'a.onnx'), path.join(dir, 'b.onnx'));
  const a = readOnnx(path.join(dir, 'b.onnx'));
  try {
    fs.mkdirSync(path.join(dir, 'sub'));
    expect(() => stageOnnx(path.join(dir, 'sub', 'a.onnx'), a, { externalData: true }).abort()).not.toThrow();
    expect(() => stageOnnx(path.join(dir, 'a.onnx'), a, { externalData: true })).toThrow(/writing .*a\.onnx would replace .*a\.onnx\.data, which the input model is read from/);
  } finally {
    a.close();
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test('no output, with or without a data file, replaces a data file of the input', async () => {
  const dir = withDataFile();
  const data = path.join(dir, 'a.onnx.data');
  const before = fs.readFileSync(data);
  // Named as the input's data file itself: a rename over it would leave a.onnx reading the deploy model.
  const e = await rejection(convert(path.join(dir, 'a.onnx'), data, { to: 'onnx', verify: false }));
  expect(e.message).toBe(`the output ${data} is a file the input model is read from; refusing to overwrite it`);
  const a = readOnnx(path.join(dir, 'a.onnx'));
  try {
    expect(a.dataFiles).toEqual([data]);
    expect(() => stageOnnx(data, a, { externalData: false })).toThrow(/is a file the input model is read from/);
  } finally {
    a.close();
  }
  expect(Buffer.compare(fs.readFileSync(data), before)).toBe(0);
  expect(fs.readdirSync(dir).sort()).toEqual(['a.onnx', 'a.onnx.data']);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a model whose tensors sit in several files, at any offsets, reads, runs and converts', async () => {
  const dir = tempDir();
  fs.mkdirSync(path.join(dir, 'weights'));
  const files = ['w0.bin', 'weights/w1.bin', 'w2.bin'];
  const bodies: Uint8Array[][] = files.map(() => [new Uint8Array(13)]); // odd offsets on purpose
  const sizes = files.map(() => 13);
  const m = readOnnx(train);
  let k = 0;
  try {
    const msg = encodeModel(m, {
      initializer: (name, init) => {
        if (byteLength(init.tensor) < 64) return undefined;
        const f = k++ % files.length;
        const bytes = tensorBytes(init.tensor);
        const where = { location: files[f], offset: sizes[f], length: bytes.length };
        bodies[f].push(Uint8Array.from(bytes), new Uint8Array(7));
        sizes[f] += bytes.length + 7;
        return externalTensorProto(name, init, where);
      },
    });
    writeFileAtomic(path.join(dir, 'split.onnx'), (sink) => streamParts(msg, sink));
  } finally {
    m.close();
  }
  files.forEach((f, i) => fs.writeFileSync(path.join(dir, f), Buffer.concat(bodies[i])));
  expect(k).toBeGreaterThan(files.length);

  const split = path.join(dir, 'split.onnx');
  expect(weights(split)).toEqual(weights(train));
  const used = new Set([...placement(split).values()].filter((p) => p).map((p) => p!.file));
  expect(used).toEqual(new Set(['w0.bin', 'w1.bin', 'w2.bin']));
  expect((await runModel(split, CASE)).output).toEqual((await runModel(train, CASE)).output);

  // Converted (and verified against the split model), with and without external data out.
  const out = path.join(dir, 'out');
  fs.mkdirSync(out);
  await convert(split, path.join(out, 'inline.onnx'));
  await convert(train, path.join(out, 'reference.onnx'), { verify: false });
  expect(weights(path.join(out, 'inline.onnx'))).toEqual(weights(path.join(out, 'reference.onnx')));
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a file that shrinks while it is read is refused as changed, not as an internal error', () => {
  const dir = tempDir();
  const f = path.join(dir, 'shrinks.bin');
  fs.writeFileSync(f, new Uint8Array(1 << 20));
  const source = new FileSource(f);
  try {
    fs.truncateSync(f, 1000);
    let e: unknown;
    try {
      source.read(4096, 100_000);
    } catch (err) {
      e = err;
    }
    expect(e).toBeInstanceOf(UserError);
    expect((e as UserError).message).toBe(`${f} changed while it was being read: it ends before byte 4096, which was there when it was opened`);
  } finally {
    source.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('external data that is not a regular file inside the model folder is never opened as such; onnx-style text offsets only', () => {
  const dir = tempDir();
  try {
    const outside = path.join(dir, 'secret.bin');
    fs.writeFileSync(outside, new Uint8Array(64));
    const folder = path.join(dir, 'model');
    fs.mkdirSync(folder);
    fs.writeFileSync(path.join(folder, 'in.bin'), new Uint8Array(64));
    fs.symlinkSync('in.bin', path.join(folder, 'alias.bin'));
    fs.symlinkSync('../secret.bin', path.join(folder, 'out.bin'));
    const real = fs.realpathSync(folder);
    // a link that stays inside the folder is followed
    const inside = openDataFile(real, 'alias.bin', 'w');
    expect(inside.name).toBe(path.join(real, 'in.bin'));
    inside.close();
    expect(() => openDataFile(real, 'out.bin', 'w')).toThrow(/resolves, through a symbolic link, to a file outside the model's folder/);
    expect(() => openDataFile(real, 'nope.bin', 'w')).toThrow(/external data file nope\.bin does not exist/);
    expect(() => openDataFile(real, 'a\u0000b', 'w')).toThrow(/holds a NUL character/);
    expect(() => openDataFile(real, 'C:\\x.bin', 'w')).toThrow(/points outside the model's folder/);
    expect(() => openDataFile(real, 'sub\\..\\x.bin', 'w')).toThrow(/points outside the model's folder/);
    expect(['0', '16', '0016', '4096'].map(externalNumber)).toEqual([0, 16, 16, 4096]);
    expect(['0x10', ' 16', '16 ', '1.6e1', '-1', '+1', '', '99999999999999999'].map(externalNumber)).toEqual(new Array(8).fill(undefined));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
