// Execution provider choice and the errors for providers that cannot run here; option checks;
// files that are missing or not ONNX.
import * as fs from 'fs';
import * as path from 'path';
import { FormatError, UserError } from '../../src/errors';
import { checkGpuProviderLibraries, providerLibraryDir, verifyModels } from '../../src/verify';
import { tempDir, unary, writeTiny } from './helpers/tiny-onnx';

let tmp: ReturnType<typeof tempDir>;
let model: string;
beforeAll(() => {
  tmp = tempDir();
  model = writeTiny(tmp.dir, 'relu.onnx', unary('Relu', [1, 8]));
});
afterAll(() => tmp.cleanup());

async function rejection(p: Promise<unknown>): Promise<Error> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(Error);
  return e as Error;
}

describe('CUDA and TensorRT', () => {
  test('missing provider libraries are named, with how to get them', () => {
    let error: unknown;
    try {
      checkGpuProviderLibraries('tensorrt', tmp.dir);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UserError);
    const e = error as UserError;
    expect(e.code).toBe('MISSING_RUNTIME');
    if (process.platform === 'linux' && process.arch === 'x64') {
      expect(e.message).toBe(
        `the TensorRT execution provider is not installed: libonnxruntime_providers_shared.so, libonnxruntime_providers_cuda.so, libonnxruntime_providers_tensorrt.so missing from ${tmp.dir}`,
      );
      expect(e.hint).toMatch(/ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules\/onnxruntime-node\/script\/install/);
      expect(e.hint).toMatch(/TensorRT 10/);
    }
  });

  const installed = fs.existsSync(path.join(providerLibraryDir(), 'libonnxruntime_providers_cuda.so'));
  if (installed) console.warn(`skipping the missing-CUDA tests: CUDA provider libraries are installed in ${providerLibraryDir()}`);
  const whenMissing = installed ? test.skip : test;

  whenMissing.each(['cuda', 'tensorrt'] as const)('verify --ep %s refuses before loading anything, never falling back', async (ep) => {
    const e = await rejection(verifyModels(model, model, { ep }));
    expect(e).toBeInstanceOf(UserError);
    expect((e as UserError).code).toBe('MISSING_RUNTIME');
    expect(e.message).toMatch(/execution provider is not (installed|available)/);
  });
});

describe('options', () => {
  test.each([
    [{ samples: 0 }, /samples 0 is not a positive integer/],
    [{ seed: -1 }, /seed -1 is not an integer/],
    [{ atol: -1 }, /atol -1 is not a finite number/],
    [{ rtol: NaN }, /rtol NaN is not a finite number/],
    [{ ep: 'metal' as never }, /unknown execution provider "metal"/],
    [{ referenceEp: 'webgpu' as never }, /reference runs on the cpu provider only/],
  ])('%o is refused', async (options, message) => {
    const e = await rejection(verifyModels(model, model, options));
    expect((e as UserError).code).toBe('BAD_USAGE');
    expect(e.message).toMatch(message);
  });
});

describe('files', () => {
  test('a missing file is a usage error', async () => {
    const e = await rejection(verifyModels(path.join(tmp.dir, 'nope.onnx'), model));
    expect((e as UserError).code).toBe('BAD_USAGE');
    expect(e.message).toMatch(/nope\.onnx: no such file/);
  });

  test.each(['cpu', 'webgpu'] as const)('a file that is not ONNX is named as such (candidate on %s)', async (ep) => {
    const junk = path.join(tmp.dir, 'junk.onnx');
    fs.writeFileSync(junk, Buffer.from('this is not a protobuf \xff\xff\xff'));
    const e = await rejection(verifyModels(model, junk, { ep }));
    expect(e).toBeInstanceOf(FormatError);
    // Read (for its external data locations) before onnxruntime sees it: the message says where it breaks.
    expect(e.message).toBe(`${junk} is not an ONNX model (invalid wire type 4 at byte 0)`);
  });
});

describe('auto', () => {
  test('runs the check and says which provider it took and why (the choice itself: gpu-presence.test.ts)', async () => {
    const r = await verifyModels(model, model, { ep: 'auto' });
    expect(r.ok).toBe(true);
    expect(r.epReason).toMatch(/^auto: /);
    if (r.ep === 'cpu') expect(r.skippedEps.map((s) => s.ep)).toEqual(['cuda', 'webgpu']);
  });
});
