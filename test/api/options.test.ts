// The library checks its options at run time, as the command line checks its flags: a JavaScript caller
// passing `dtype: 'fp8'` gets a UserError naming the option, never a silent default.
import * as path from 'path';
import * as lib from '../../src';
import { caseDir } from '../helpers/fixtures';

const train = path.join(caseDir('repvgg-bn'), 'train.onnx');
const deployRef = path.join(caseDir('repvgg-bn'), 'deploy_ref.onnx');

async function refusal(p: Promise<unknown>): Promise<lib.UserError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(lib.UserError);
    expect((e as lib.UserError).code).toBe('BAD_USAGE');
    return e as lib.UserError;
  }
  throw new Error('accepted');
}

// Options a TypeScript caller could not write, as a JavaScript caller can.
const loose = (o: unknown) => o as never;

test('convert(): a value of the wrong kind, an unknown option and a bad nested option are refused before any work', async () => {
  expect((await refusal(lib.convert(train, 'never.onnx', loose({ dtype: 'fp8' })))).message).toBe("convert(): options.dtype must be one of fp32, fp16, not 'fp8'");
  expect((await refusal(lib.convert(train, 'never.onnx', loose({ dtpye: 'fp16' })))).message).toBe('convert(): unknown option options.dtpye (did you mean options.dtype?)');
  expect((await refusal(lib.convert(train, 'never.onnx', loose({ verifyOptions: { samples: 0 } })))).message).toBe('convert(): options.verifyOptions.samples must be a whole number of at least 1, not 0');
  expect((await refusal(lib.convert(train, 'never.onnx', loose({ verifyOptions: { ep: 'gpu' } })))).message).toMatch(/did you mean webgpu\?\)$/);
  expect((await refusal(lib.convert(train, 'never.onnx', loose({ inputShape: [1, 3, -2, 2] })))).message).toMatch(/^convert\(\): options\.inputShape must be a shape of positive whole numbers/);
  expect((await refusal(lib.convert(train, 'never.onnx', loose('fast')))).message).toBe("convert(): options must be an object, not 'fast'");
});

test('verify(), inspect() and bench() check theirs too', async () => {
  expect((await refusal(lib.verify(train, deployRef, loose({ atol: '1e-4' })))).message).toBe("verify(): options.atol must be a number of 0 or more, not '1e-4'");
  expect((await refusal(lib.inspect(train, loose({ schema: 'timm' })))).message).toBe('inspect(): unknown option options.schema (did you mean options.scheme?)');
  expect((await refusal(lib.bench(train, deployRef, loose({ runs: 1.5 })))).message).toBe('bench(): options.runs must be a whole number of at least 1, not 1.5');
});

test('options that do not apply are reported as warning events', async () => {
  const warnings: string[] = [];
  const dir = require('../helpers/fixtures').tempDir() as string;
  try {
    const r = await lib.convert(train, path.join(dir, 'd.onnx'), { verify: false, scheme: 'timm', onEvent: (e) => e.type === 'warning' && warnings.push(e.message) });
    expect(r.bytesWritten).toBeGreaterThan(0);
    expect(warnings).toEqual([expect.stringMatching(/^--scheme \(scheme\) applies only to checkpoint inputs/)]);
  } finally {
    require('fs').rmSync(dir, { recursive: true, force: true });
  }
});

test('inspect() and bench() are exported, typed and return data', async () => {
  const report = await lib.inspect(train);
  expect(report.blocks.filter((b) => b.merges).length).toBe(8);
  const events: lib.ConvertEvent[] = [];
  const b = await lib.bench(train, deployRef, { runs: 2, warmup: 1, onEvent: (e) => events.push(e) });
  expect(b.speedup).toBeGreaterThan(0);
  expect(events.filter((e) => e.type === 'progress').map((e) => e.type === 'progress' && [e.unit, e.what, e.done])).toEqual([
    ['runs', 'warm-up', 1],
    ['runs', 'timed', 1],
    ['runs', 'timed', 2],
  ]);
  expect(lib.version()).toBe(require('../../package.json').version);
});

test('every function docs/api.md documents is exported', () => {
  const doc = require('fs').readFileSync(path.join(__dirname, '..', '..', 'docs', 'api.md'), 'utf8') as string;
  const documented = [...doc.matchAll(/^## (\w+)\(/gm)].map((m) => m[1]);
  expect(documented.length).toBeGreaterThanOrEqual(5);
  for (const name of documented) expect(typeof (lib as Record<string, unknown>)[name]).toBe('function');
});
