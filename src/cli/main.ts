// Command-line entry: parse, dispatch to a command, and leave through the one exit point.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { UserError } from '../errors';
import { DEFAULT_ATOL, DEFAULT_ATOL_FP16, DEFAULT_RTOL, DEFAULT_RTOL_FP16 } from '../verify/defaults';
import type { BenchArgs } from './commands/bench';
import { ConvertArgs, convertCommand, runConvert } from './commands/convert';
import type { InspectArgs } from './commands/inspect';
import type { VerifyCommandArgs } from './commands/verify';
import { EXIT, classify, errorReport, packageVersion } from './exit';
import { makeOutput, reportPrinted } from './output';

// yargs runs a command's builder only when that command runs (the default command's also for --help and
// --version), so the other commands, and what they import, load only when invoked.
const verifyModule = () => require('./commands/verify') as typeof import('./commands/verify');
const inspectModule = () => require('./commands/inspect') as typeof import('./commands/inspect');
const benchModule = () => require('./commands/bench') as typeof import('./commands/bench');

interface Common {
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  debug?: boolean;
}

export async function main(argv: readonly string[]): Promise<number> {
  let debug = argv.includes('--debug');
  let code: number = EXIT.ok;
  const run = async (fn: () => Promise<number>) => {
    code = await fn();
  };
  const parser = yargs(argv as string[])
    .scriptName('repvgg-convert')
    .usage('$0 <input> <output> [options]\n\nConvert a training-time RepVGG-style model (RepVGG, YOLOv6/v7 RepConv, MobileOne, ACNet) into its deploy form and prove it equivalent with onnxruntime.')
    .command<ConvertArgs>('$0 <input> <output>', 'convert a training-time model to its deploy form (verified unless --no-verify)', convertCommand, (a) =>
      run(() => runConvert(a, makeOutput(a as Common))),
    )
    .command<VerifyCommandArgs>('verify <reference> <candidate>', 'check that two ONNX models compute the same outputs', (y) => verifyModule().verifyCommand(y), (a) =>
      run(() => verifyModule().runVerify(a, makeOutput(a as Common))),
    )
    .command<InspectArgs>('inspect <model>', 'report a model\'s format, form, blocks, parameters and MACs, and what conversion would do; writes nothing', (y) => inspectModule().inspectCommand(y), (a) =>
      run(() => inspectModule().runInspect(a, makeOutput(a as Common))),
    )
    .command<BenchArgs>('bench <train> <deploy>', 'time the training and deploy models, interleaved, on one provider', (y) => benchModule().benchCommand(y), (a) =>
      run(() => benchModule().runBench(a, makeOutput(a as Common))),
    )
    .options({
      json: { type: 'boolean', describe: 'print one machine-readable report on stdout (human text stays on stderr)' },
      quiet: { type: 'boolean', alias: 'q', describe: 'print only warnings and errors' },
      verbose: { type: 'boolean', alias: 'v', describe: 'print rule decisions, e.g. why a branch was not merged' },
      debug: { type: 'boolean', describe: 'print stack traces with errors' },
    })
    .example('$0 train.onnx deploy.onnx', 'merge branches, write deploy.onnx and verify it on the CPU')
    .example('$0 train.onnx deploy.onnx --no-verify', 'convert without running onnxruntime')
    .example('$0 train.onnx deploy.onnx --verbose', 'also list every site left unmerged and why')
    .example('$0 verify train.onnx deploy.onnx --json', 'as a CI step: JSON report on stdout, exit 1 if outputs differ')
    .example('$0 verify train.onnx deploy.onnx --ep webgpu --input-shape 1x3x224x224', 'check the deploy model on the GPU')
    .example('$0 RepVGG-A0-train.pth RepVGG-A0-deploy.safetensors', 'convert a checkpoint (no Python needed); .pth and .wts work too')
    .example('$0 inspect train.onnx', 'list the blocks, what will merge and why not, parameters and MACs')
    .example('$0 bench train.onnx deploy.onnx --ep webgpu --runs 50', 'latency of both models and the deploy speedup')
    .epilogue(
      `Verification: an element fails only if |deploy - train| exceeds both --atol (default ${DEFAULT_ATOL}) and --rtol (default ${DEFAULT_RTOL}) × |train|; NaN fails.\n` +
        `FP16 deploy models default to atol ${DEFAULT_ATOL_FP16} and rtol ${DEFAULT_RTOL_FP16}; the report also counts what the FP32 tolerances would fail.\n` +
        'Exit codes: 0 success, 1 the models differ, 2 bad input or usage, 70 internal error (please report it).',
    )
    .strict()
    .demandCommand(1)
    .recommendCommands()
    .version(packageVersion())
    .wrap(Math.min(110, process.stdout.columns || 100))
    .exitProcess(false)
    .fail((msg, err) => {
      if (err) throw err;
      throw new UserError(msg, { code: 'BAD_USAGE', hint: 'see repvgg-convert --help' });
    });
  try {
    const parsed = await parser.parseAsync();
    debug = !!(parsed as Common).debug;
    return code;
  } catch (e) {
    const outcome = classify(e, debug);
    process.stderr.write(`${outcome.message}\n`);
    // A CI step reading stdout gets a JSON document whatever happened.
    if (argv.includes('--json') && !reportPrinted()) process.stdout.write(`${JSON.stringify(errorReport(e, outcome), null, 2)}\n`);
    return outcome.code;
  }
}

/** Removes staged files and says which outputs, if any, were already complete; exits 130. */
export function onSignal(signal: NodeJS.Signals): void {
  // Loaded here, not up front: a run that never staged a file has not loaded it, and it then finds none.
  const files = require('../formats/atomic-file') as typeof import('../formats/atomic-file');
  files.removeStagedFiles();
  // A signal that arrives during a synchronous write is handled once the write is done: say what was kept.
  const kept = files.committedFiles();
  process.stderr.write(kept.length ? `interrupted by ${signal}; ${kept.join(' and ')} had already been written in full and ${kept.length > 1 ? 'are' : 'is'} kept; nothing else was written\n` : `interrupted by ${signal}; no output was written\n`);
  process.exit(130);
}

if (require.main === module || process.argv[1]?.endsWith('repvgg-convert.js') || process.argv[1]?.endsWith('repvgg-convert')) {
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  main(hideBin(process.argv)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`${classify(e, true).message}\n`);
      process.exitCode = EXIT.internal;
    },
  );
}
