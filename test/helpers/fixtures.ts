// Access to the committed PyTorch-made fixtures (fixtures/onnx/<case>/) and running models in onnxruntime.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';

export const FIXTURES = path.join(__dirname, '..', '..', 'fixtures');
export const ONNX_CASES = fs.readdirSync(path.join(FIXTURES, 'onnx')).filter((d) => fs.existsSync(path.join(FIXTURES, 'onnx', d, 'train.onnx'))).sort();

export const caseDir = (c: string): string => path.join(FIXTURES, 'onnx', c);

export interface CaseMeta {
  readonly case: string;
  readonly expect_ops: Record<string, number>;
  readonly outputs: string[];
  readonly input: { name: string; shape: number[] };
  readonly dynamic: boolean;
  /** Set while the tool does not handle the case's family yet: what the converter (`convert`) or inspect
   * (`inspect`) still misses. The tests named there skip their graph checks for the case and list it as todo. */
  readonly pending?: { readonly convert?: string; readonly inspect?: string };
}

export function meta(c: string): CaseMeta {
  return JSON.parse(fs.readFileSync(path.join(caseDir(c), 'meta.json'), 'utf8'));
}

/** Cases whose family the converter does not merge yet (meta.json `pending.convert`): their conversion must still
 * verify and match PyTorch, but not yet PyTorch's deploy graph op for op. */
export const PENDING_CONVERT = ONNX_CASES.filter((c) => meta(c).pending?.convert);
/** Cases whose blocks inspect does not report yet (`pending.inspect`, or `pending.convert`: inspect predicts what
 * conversion does). */
export const PENDING_INSPECT = ONNX_CASES.filter((c) => meta(c).pending);

export function readArray(base: string): { shape: number[]; data: Float32Array } {
  const shape = JSON.parse(fs.readFileSync(`${base}.json`, 'utf8')).shape as number[];
  const b = fs.readFileSync(`${base}.bin`);
  return { shape, data: new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)) };
}

/** PyTorch's train-time output for an output name. */
export function reference(c: string, output: string): { shape: number[]; data: Float32Array } {
  const named = path.join(caseDir(c), `ref_train_${output}`);
  return readArray(fs.existsSync(`${named}.bin`) ? named : path.join(caseDir(c), 'ref_train'));
}

export async function runModel(model: string, c: string): Promise<Record<string, Float32Array>> {
  const s = await ort.InferenceSession.create(model, { executionProviders: ['cpu'] });
  try {
    const x = readArray(path.join(caseDir(c), 'input'));
    const out = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', x.data, x.shape) });
    return Object.fromEntries(s.outputNames.map((n) => [n, out[n].data as Float32Array]));
  } finally {
    await s.release();
  }
}

/** max |a - b| / max |b| */
export function relError(got: Float32Array, ref: Float32Array): number {
  let maxAbs = 0;
  let maxRef = 1e-12;
  for (let i = 0; i < ref.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(got[i] - ref[i]));
    maxRef = Math.max(maxRef, Math.abs(ref[i]));
  }
  return Number.isNaN(maxAbs) ? Infinity : maxAbs / maxRef;
}

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'repvgg-test-'));
}
