// `repvgg-convert <input> <output>`: the default command. The report (what was merged, the check, what
// was written) goes to stdout; progress and warnings to stderr.
import type { ConversionCheckFailed, ConvertOptions, ConvertResult } from '../../api/convert';
import { ConvertArgs } from '../flags';
import { Output } from '../output';
import { progressPrinter } from '../progress';
import { defined, verifyOptionsFrom } from '../args';

export async function runConvert(a: ConvertArgs, out: Output): Promise<number> {
  const api = require('../../api/convert') as typeof import('../../api/convert');
  const { renderConvert } = require('../render') as typeof import('../render');
  const progress = progressPrinter(out);
  const verifyOptions = verifyOptionsFrom(a);
  const options: ConvertOptions = defined({
    to: a.to,
    verify: a.verify,
    verifyOptions: Object.keys(verifyOptions).length ? verifyOptions : undefined,
    bnEps: a['bn-eps'],
    keepFailed: a['keep-failed'],
    expectMerged: a['expect-merged'],
    failIfUnmerged: a['fail-if-unmerged'],
    dtype: a.dtype,
    keepIoTypes: a['keep-io-types'],
    scheme: a.scheme,
    arch: a.arch,
    opset: a.opset,
    entry: a.entry,
    externalData: a['external-data'],
    dynamicBatch: a['dynamic-batch'],
    maxBatch: a['max-batch'],
    timingCache: a['timing-cache'],
    trtexec: a.trtexec,
    onEvent: progress,
  });
  try {
    const res = await api.convert(a.input, a.output, options);
    progress.stop();
    out.document(convertJson(res, true));
    out.report(renderConvert(res, out.verbose));
    return 0;
  } catch (e) {
    progress.stop();
    if (e instanceof api.ConversionCheckFailed) {
      out.document(convertJson(e.result, false));
      out.report(renderConvert(e.result, out.verbose));
    }
    throw e;
  }
}

function convertJson(res: ConversionCheckFailed['result'] | ConvertResult, ok: boolean) {
  return {
    ok,
    input: res.input,
    output: res.output,
    inputFormat: res.inputFormat,
    outputFormat: res.outputFormat,
    merged: res.reparam?.merged,
    opsBefore: res.reparam?.opsBefore,
    opsAfter: res.reparam?.opsAfter,
    refusals: res.reparam?.refusals,
    warnings: res.reparam?.warnings,
    checkpoint: res.checkpoint,
    architecture: res.architecture?.name,
    fp16: res.fp16,
    fp16Headroom: res.fp16Headroom,
    trt: res.trt ?? null,
    verify: res.verify ?? null,
    verifySkipped: res.verifySkipped,
    bytesWritten: res.bytesWritten,
    provenance: res.provenance,
    timings: res.timings,
  };
}
