// The command line's parser: every habit a user relies on, and every mistake answered in the flag's own
// words with the nearest name. Runs the parser directly; cli.test.ts runs the built binary.
import { parseArgv } from '../../src/cli/parse';
import { UserError } from '../../src/errors';
import { closest, editDistance } from '../../src/suggest';

function refusal(argv: string[]): UserError {
  try {
    parseArgv(argv);
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    expect((e as UserError).code).toBe('BAD_USAGE');
    return e as UserError;
  }
  throw new Error(`parsed: ${argv.join(' ')}`);
}

describe('parseArgv', () => {
  test('no arguments: a short usage; -h and --help: help, also for a command and past a mistake', () => {
    expect(parseArgv([])).toEqual({ action: 'usage' });
    expect(parseArgv(['-h'])).toEqual({ action: 'help', command: undefined });
    expect(parseArgv(['--help'])).toEqual({ action: 'help', command: undefined });
    expect(parseArgv(['verify', '-h'])).toEqual({ action: 'help', command: 'verify' });
    expect(parseArgv(['inspect', '--no-such', '--help'])).toEqual({ action: 'help', command: 'inspect' });
    expect(parseArgv(['-qh'])).toEqual({ action: 'help', command: undefined });
  });

  test('--version, -V, and -v on its own print the version; -v with a command is --verbose', () => {
    for (const argv of [['--version'], ['-V'], ['-v']]) expect(parseArgv(argv)).toEqual({ action: 'version' });
    expect(parseArgv(['a.onnx', 'b.onnx', '-v'])).toMatchObject({ action: 'run', command: 'convert', args: { verbose: true } });
  });

  test('the default command takes two paths; flags before, between and after them', () => {
    expect(parseArgv(['--no-verify', 'a.onnx', '--samples', '3', 'b.onnx', '--json'])).toEqual({
      action: 'run',
      command: 'convert',
      args: { verify: false, samples: 3, json: true, input: 'a.onnx', output: 'b.onnx' },
    });
  });

  test('named commands, with global flags before them', () => {
    expect(parseArgv(['--json', 'verify', 'a.onnx', 'b.onnx'])).toMatchObject({ command: 'verify', args: { json: true, reference: 'a.onnx', candidate: 'b.onnx' } });
    expect(parseArgv(['inspect', 'm.onnx', '--input-shape', '1x3x8x8', '--input-shape', 'x:1x3'])).toMatchObject({ command: 'inspect', args: { model: 'm.onnx', 'input-shape': ['1x3x8x8', 'x:1x3'] } });
  });

  test('booleans: --x, --no-x, --x=true|false|1|0; = values; -- ends the flags', () => {
    expect(parseArgv(['a', 'b', '--json=true'])).toMatchObject({ args: { json: true } });
    expect(parseArgv(['a', 'b', '--json=false'])).toMatchObject({ args: { json: false } });
    expect(parseArgv(['a', 'b', '--verify=0'])).toMatchObject({ args: { verify: false } });
    expect(parseArgv(['a', 'b', '--samples=4', '--atol', '1e-3', '--seed', '+7'])).toMatchObject({ args: { samples: 4, atol: 0.001, seed: 7 } });
    expect(parseArgv(['--', '-odd.onnx', 'b.onnx'])).toMatchObject({ args: { input: '-odd.onnx', output: 'b.onnx' } });
    expect(refusal(['a', 'b', '--json=maybe']).message).toBe('--json is a switch: give it alone (or --json=true / --json=false), not =maybe');
  });

  test('an unknown option names the nearest known one', () => {
    expect(refusal(['a', 'b', '--no-verfy']).message).toBe('unknown option --no-verfy for a conversion (did you mean --no-verify?)');
    expect(refusal(['a', 'b', '--sample', '2']).message).toMatch(/unknown option --sample .*did you mean --samples\?/);
    expect(refusal(['a', 'b', '--input-shapes', '1x3x8x8']).message).toMatch(/did you mean --input-shape\?/);
    expect(refusal(['a', 'b', '-x']).message).toBe('unknown option -x for a conversion');
    expect(refusal(['a', 'b', '--zzzzzzzz']).message).toBe('unknown option --zzzzzzzz for a conversion');
  });

  test("an option of another command says whose it is", () => {
    expect(refusal(['a', 'b', '--compare-eps']).message).toBe('--compare-eps is an option of repvgg-convert verify, not of a conversion');
    expect(refusal(['verify', 'a', 'b', '--dtype', 'fp16']).message).toBe('--dtype is an option of a conversion, not of repvgg-convert verify');
  });

  test('a mistyped command is named, not taken for a missing file', () => {
    expect(refusal(['inpsect', 'm.onnx']).message).toBe("unknown command 'inpsect' (did you mean inspect?)");
    expect(refusal(['verfy', 'a.onnx', 'b.onnx']).message).toBe("unknown command 'verfy' (did you mean verify?)");
  });

  test('values are checked in the flag’s own words', () => {
    expect(refusal(['a', 'b', '--ep', 'gpu']).message).toBe("--ep must be one of cpu, webgpu, cuda, tensorrt, auto, not 'gpu' (did you mean webgpu?)");
    expect(refusal(['a', 'b', '--samples', 'abc']).message).toBe("--samples must be a whole number of at least 1, not 'abc'");
    expect(refusal(['a', 'b', '--samples', '2.5']).message).toBe('--samples must be a whole number of at least 1, not 2.5');
    expect(refusal(['a', 'b', '--atol', '-1']).message).toBe('--atol must be a number of 0 or more, not -1');
    expect(refusal(['a', 'b', '--dtype', 'fp8']).message).toBe("--dtype must be one of fp32, fp16, not 'fp8'");
    expect(refusal(['a', 'b', '--samples']).message).toBe('--samples needs a value (--samples N)');
    expect(refusal(['a', 'b', '--samples', '--json']).message).toBe('--samples needs a value (--samples N)');
    expect(refusal(['a', 'b', '--samples', '2', '--samples', '3']).message).toBe('--samples is given twice');
  });

  test('missing and extra arguments say what is expected, with an example', () => {
    const missing = refusal(['train.onnx']);
    expect(missing.message).toMatch(/^missing <output>: deploy model/);
    expect(missing.hint).toBe('for example: repvgg-convert train.onnx deploy.onnx');
    expect(refusal(['inspect']).message).toMatch(/^missing <model>/);
    expect(refusal(['a', 'b', 'c']).message).toBe("unexpected argument 'c': a conversion takes <input> <output>");
  });
});

describe('did you mean', () => {
  test('edit distance counts a swap of neighbours as one edit', () => {
    expect(editDistance('verfiy', 'verify')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });
  test('the only word containing it wins; else the nearest within a third of its length', () => {
    expect(closest('gpu', ['cpu', 'webgpu', 'cuda'])).toBe('webgpu');
    expect(closest('verb', ['--verbose', '--version'])).toBe('--verbose');
    expect(closest('inspct', ['verify', 'inspect', 'bench'])).toBe('inspect');
    expect(closest('xyz', ['verify', 'inspect', 'bench'])).toBeUndefined();
  });
});
