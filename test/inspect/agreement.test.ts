// inspect runs the rules' and the checkpoint reader's own code, so what it lists as merging is what a
// conversion merges: the same number of merges and folds, of the same kinds, on every fixture.
import * as fs from 'fs';
import * as path from 'path';
import { convert } from '../../src/api/convert';
import { SchemeName, convertStateDict } from '../../src/checkpoint';
import { readSafetensors } from '../../src/formats/safetensors';
import { inspectModel } from '../../src/inspect';
import { FIXTURES, ONNX_CASES, caseDir, tempDir } from '../helpers/fixtures';

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test.each(ONNX_CASES)('%s: inspect lists the merges and folds conversion makes', async (c) => {
  const file = path.join(caseDir(c), 'train.onnx');
  const r = inspectModel(file);
  const res = await convert(file, path.join(dir, `${c}.onnx`), { verify: false });
  const listed: Record<string, number> = {};
  for (const b of r.blocks) if (b.merges) listed[b.kind!] = (listed[b.kind!] ?? 0) + 1;
  const folds = r.folds.filter((f) => f.folds).length;
  if (folds) listed['Conv+BN fold'] = (listed['Conv+BN fold'] ?? 0) + folds;
  expect(listed).toEqual(res.reparam!.merged);
  // Whatever inspect lists as staying, conversion leaves with a reason.
  expect(r.blocks.filter((b) => !b.merges && b.kind !== 'already one conv').length).toBe(res.reparam!.refusals.filter((x) => x.rule === 'merge-block').length);
});

const CKPT = path.join(FIXTURES, 'ckpt');
const CKPT_CASES = fs.readdirSync(CKPT).filter((c) => fs.existsSync(path.join(CKPT, c, 'train.safetensors'))).sort();
/** QARepVGG's versions store the same keys: both tools are told which one. */
const SCHEME: Record<string, SchemeName> = { 'yolov6-qarepvgg': 'yolov6-qarepvgg', 'yolov6-qarepvgg2': 'yolov6-qarepvgg2' };

test.each(CKPT_CASES)('checkpoint %s: inspect lists every block conversion merges, of the same kinds', (c) => {
  const file = path.join(CKPT, c, 'train.safetensors');
  const r = inspectModel(file, { scheme: SCHEME[c] });
  const { report } = convertStateDict(readSafetensors(file), { scheme: SCHEME[c] });
  const kinds = (bs: readonly { merges: boolean; kind?: string }[]) => bs.filter((b) => b.merges).map((b) => b.kind).sort();
  expect(kinds(r.blocks)).toEqual(kinds(report.blocks));
  expect(r.blocks.filter((b) => b.merges)).toHaveLength(report.blocks.length);
});
