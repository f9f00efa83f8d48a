// Command-line entry: parse, run one command, and leave through the one exit point. Each command's code
// loads only when it runs, so --help and a conversion load no more than they need.
import { packageVersion } from '../version';
import { EXIT, classify, errorReport } from './exit';
import { helpText, usageText } from './help';
import { Output, jsonDocument, makeOutput } from './output';
import { RunRequest, parseArgv } from './parse';

function run(r: RunRequest, out: Output): Promise<number> {
  switch (r.command) {
    case 'convert':
      return (require('./commands/convert') as typeof import('./commands/convert')).runConvert(r.args, out);
    case 'verify':
      return (require('./commands/verify') as typeof import('./commands/verify')).runVerify(r.args, out);
    case 'inspect':
      return (require('./commands/inspect') as typeof import('./commands/inspect')).runInspect(r.args, out);
    case 'bench':
      return (require('./commands/bench') as typeof import('./commands/bench')).runBench(r.args, out);
  }
}

const width = () => Math.min(110, process.stdout.columns || 100);

export async function main(argv: readonly string[]): Promise<number> {
  let debug = argv.includes('--debug');
  let out: Output | undefined;
  try {
    const parsed = parseArgv(argv);
    switch (parsed.action) {
      case 'usage':
        process.stderr.write(`${usageText(width())}\n`);
        return EXIT.userError;
      case 'help':
        process.stdout.write(`${helpText(parsed.command, width())}\n`);
        return EXIT.ok;
      case 'version':
        process.stdout.write(`${packageVersion()}\n`);
        return EXIT.ok;
      case 'run':
        debug = !!parsed.args.debug;
        out = makeOutput(parsed.args);
        return await run(parsed, out);
    }
  } catch (e) {
    const outcome = classify(e, debug);
    process.stderr.write(`${outcome.message}\n`);
    // A CI step reading stdout gets a JSON document whatever happened.
    if (wantsJson(argv) && !out?.printed) process.stdout.write(`${JSON.stringify(jsonDocument(errorReport(e, outcome)), null, 2)}\n`);
    return outcome.code;
  }
}

/** --json, --json=true and the like, even on a line that failed to parse. */
function wantsJson(argv: readonly string[]): boolean {
  return argv.some((a) => a === '--json' || /^--json=(true|1|yes|on)$/i.test(a));
}

/** Removes staged and scratch files and names the outputs, if any, that were already complete; exits 130. */
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
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`${classify(e, true).message}\n`);
      process.exitCode = EXIT.internal;
    },
  );
}
