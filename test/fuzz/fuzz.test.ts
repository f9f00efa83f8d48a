// Seeded fuzzing of every input format through the readers and the convert pipeline (verification off):
// whatever the bytes, the library either accepts them or refuses with one of its own error classes, within
// the per-case time bound, writing nothing and running nothing. Replay one case: FUZZ_SEED=<seed> npx jest test/fuzz
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { convert } from '../../src/api/convert';
import { classify } from '../../src/cli/exit';
import { renderConvert } from '../../src/cli/render';
import { CheckFailedError, UserError } from '../../src/errors';
import { printableText } from '../../src/formats/printable';
import { detectInputFormat } from '../../src/formats/registry';
import { readOnnx } from '../../src/formats/onnx/read';
import { readPth } from '../../src/formats/pth';
import { readSafetensors } from '../../src/formats/safetensors';
import { tensorBytes } from '../../src/tensor';
import { FIXTURES } from '../helpers/fixtures';
import { BUGS, CaseResult, describeFailure, Library, loadCorpus, prepareDir, runCase } from './harness';
import { PWNED } from './mutate';

const lib: Library = { detectInputFormat, readOnnx, readSafetensors, readPth, tensorBytes, convert, renderConvert, classify, printableText, UserError, CheckFailedError };

/** Cases in the suite: seeds FIRST .. FIRST + CASES - 1. FUZZ_CASES overrides the count. */
const FIRST = 1;
const CASES = Number(process.env.FUZZ_CASES ?? 2000);
const replay = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);

describe('fuzzed inputs', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'repvgg-fuzz-'));
  const corpus = loadCorpus(FIXTURES);
  beforeAll(() => {
    prepareDir(dir);
    fs.rmSync(PWNED, { force: true });
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('the corpus covers every input format', () => {
    const formats = new Set(corpus.map((c) => c.format));
    expect([...formats].sort()).toEqual(['onnx', 'pth', 'safetensors']);
    expect(corpus.length).toBeGreaterThan(60);
  });

  if (replay !== undefined) {
    test(`replays seed ${replay}`, async () => {
      const saveTo = process.env.FUZZ_SAVE;
      const c = await runCase(lib, corpus, replay, { dir, saveTo });
      process.stderr.write(`${describeFailure(c)}\n`);
      expect(BUGS.has(c.outcome) ? describeFailure(c) : c.outcome).toMatch(/^(accepted|refused)$/);
    });
    return;
  }

  test(`${CASES} seeded mutants: accepted or refused by our errors, in bounded time, nothing written or run`, async () => {
    const results: CaseResult[] = [];
    for (let seed = FIRST; seed < FIRST + CASES; seed++) results.push(await runCase(lib, corpus, seed, { dir }));
    const failures = results.filter((c) => BUGS.has(c.outcome));
    const count = (pred: (c: CaseResult) => boolean) => results.filter(pred).length;
    // Enough cases must get past the framing for the deeper checks to be exercised at all.
    expect(count((c) => c.outcome === 'accepted')).toBeGreaterThan(CASES / 20);
    expect(count((c) => c.converted && c.outcome === 'accepted')).toBeGreaterThan(CASES / 200);
    expect(failures.slice(0, 10).map(describeFailure).join('\n\n')).toBe('');
    // Readers alone leave no file open (convert's leftovers are closed by the harness and counted apart).
    expect(results.filter((c) => !c.converted && c.leaked > 0).map((c) => `seed ${c.seed}: ${c.leaked} descriptor(s) left open`)).toEqual([]);
  });
});
