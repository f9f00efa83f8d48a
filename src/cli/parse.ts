// argv → what to do. Every flag is checked against its command's table (flags.ts): an unknown one gets
// the nearest known name, a value the wrong type gets the flag's own words ("--samples must be a whole
// number of at least 1, not 'abc'"), and a flag that belongs to another command says which.
import * as fs from 'fs';
import { UserError } from '../errors';
import { checkValue, kindPhrase } from '../options';
import { closest, didYouMean } from '../suggest';
import { BenchArgs, COMMANDS, Command, CommandName, ConvertArgs, Flag, GLOBAL_FLAGS, InspectArgs, VerifyArgs } from './flags';

/** A command to run with its arguments, each typed as its flags say (flags.ts). */
export type RunRequest =
  | { readonly action: 'run'; readonly command: 'convert'; readonly args: ConvertArgs }
  | { readonly action: 'run'; readonly command: 'verify'; readonly args: VerifyArgs }
  | { readonly action: 'run'; readonly command: 'inspect'; readonly args: InspectArgs }
  | { readonly action: 'run'; readonly command: 'bench'; readonly args: BenchArgs };

export type Parsed =
  | RunRequest
  | { readonly action: 'help'; readonly command?: CommandName }
  | { readonly action: 'version' }
  /** No arguments at all: a short usage with examples. */
  | { readonly action: 'usage' };

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

const usage = (message: string, hint = 'repvgg-convert --help lists the commands and options') => new UserError(message, { code: 'BAD_USAGE', hint });

export function parseArgv(argv: readonly string[]): Parsed {
  if (argv.length === 0) return { action: 'usage' };
  if (argv.length === 1 && argv[0] === '-v') return { action: 'version' };
  const named = argv.findIndex((a) => !a.startsWith('-') || a === '-');
  const explicit = named >= 0 && argv[named] in COMMANDS && argv.slice(0, named).every((a) => a in BOOLEAN_GLOBALS);
  const command = COMMANDS[explicit ? (argv[named] as CommandName) : 'convert'];
  // Help and version win over anything else on the line, even a mistake.
  const before = argv.indexOf('--');
  const flagsPart = before < 0 ? argv : argv.slice(0, before);
  if (flagsPart.some((a) => a === '--help' || a === '-h')) return { action: 'help', command: explicit ? command.name : undefined };
  if (flagsPart.some((a) => a === '--version' || a === '-V')) return { action: 'version' };
  const flags: Readonly<Record<string, Flag>> = { ...GLOBAL_FLAGS, ...command.flags };
  const aliases = new Map(Object.entries(flags).flatMap(([name, f]) => (f.alias ? [[f.alias, name] as const] : [])));

  const values: Record<string, unknown> = {};
  const positionals: string[] = [];
  const set = (name: string, value: unknown, token: string) => {
    if (name in values && flags[name].kind.type !== 'strings') throw usage(`${token.split('=')[0]} is given twice`, 'give each option once');
    if (flags[name].kind.type === 'strings') values[name] = [...((values[name] as string[] | undefined) ?? []), value];
    else values[name] = value;
  };

  for (let i = 0; i < argv.length; i++) {
    const token = argv[i];
    if (explicit && i === named) continue;
    if (token === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (token.startsWith('--')) {
      const eq = token.indexOf('=');
      const rawName = token.slice(2, eq < 0 ? undefined : eq);
      const inline = eq < 0 ? undefined : token.slice(eq + 1);
      const negated = !(rawName in flags) && rawName.startsWith('no-') && flags[rawName.slice(3)]?.kind.type === 'boolean';
      const name = negated ? rawName.slice(3) : rawName;
      const flag = flags[name];
      if (!flag) throw unknownFlag(`--${rawName}`, command, flags);
      if (flag.kind.type === 'boolean') {
        if (inline === undefined) set(name, !negated, token);
        else if (!negated && TRUE.has(inline.toLowerCase())) set(name, true, token);
        else if (!negated && FALSE.has(inline.toLowerCase())) set(name, false, token);
        else throw usage(`--${rawName} is a switch: give it alone${negated ? '' : ` (or --${name}=true / --${name}=false)`}, not =${inline}`);
        continue;
      }
      if (negated) throw unknownFlag(`--${rawName}`, command, flags);
      const value = inline ?? takeValue(argv, ++i, `--${name}`, flag);
      set(name, convert(value, flag, `--${name}`), token);
      continue;
    }
    if (token.startsWith('-') && token.length > 1 && !NUMBER.test(token)) {
      // -qv: a cluster of one-letter switches.
      for (const letter of token.slice(1)) {
        const name = aliases.get(letter);
        if (!name) throw unknownFlag(`-${letter}`, command, flags);
        if (flags[name].kind.type !== 'boolean') throw usage(`-${letter} needs a value; write --${name} ${flags[name].placeholder ?? 'VALUE'}`);
        set(name, true, `-${letter}`);
      }
      continue;
    }
    positionals.push(token);
  }

  if (values.help) return { action: 'help', command: explicit ? command.name : undefined };
  if (values.version) return { action: 'version' };
  return runRequest(command.name, { ...values, ...namePositionals(command, positionals, explicit) });
}

/** Every value was checked against its flag's kind above: here the record takes its command's type. */
function runRequest(command: CommandName, args: Record<string, unknown>): RunRequest {
  switch (command) {
    case 'convert':
      return { action: 'run', command, args: args as ConvertArgs };
    case 'verify':
      return { action: 'run', command, args: args as VerifyArgs };
    case 'inspect':
      return { action: 'run', command, args: args as InspectArgs };
    case 'bench':
      return { action: 'run', command, args: args as BenchArgs };
  }
}

const BOOLEAN_GLOBALS: Readonly<Record<string, true>> = Object.fromEntries(
  Object.entries(GLOBAL_FLAGS).flatMap(([name, f]) => [[`--${name}`, true], ...('alias' in f ? [[`-${f.alias}`, true]] : [])]),
);

function takeValue(argv: readonly string[], i: number, label: string, flag: Flag): string {
  const v = argv[i];
  if (v === undefined || (v.startsWith('-') && v.length > 1 && !NUMBER.test(v))) {
    throw usage(`${label} needs a value (${label} ${flag.placeholder ?? 'VALUE'})`, `${label}: ${flag.describe}`);
  }
  return v;
}

function convert(value: string, flag: Flag, label: string): unknown {
  switch (flag.kind.type) {
    case 'number': {
      const n = NUMBER.test(value.trim()) ? Number(value) : NaN;
      if (Number.isNaN(n)) throw usage(`${label} must be ${kindPhrase(flag.kind)}, not '${value}'`, `${label}: ${flag.describe}`);
      checkValue(flag.kind, n, label);
      return n;
    }
    case 'choice':
      checkValue(flag.kind, value, label);
      return value;
    default:
      if (value === '') throw usage(`${label} needs a value, not an empty string`);
      return value;
  }
}

function unknownFlag(token: string, command: Command, flags: Readonly<Record<string, Flag>>): UserError {
  const long = token.startsWith('--');
  const bare = token.replace(/^-+/, '');
  const elsewhere = Object.values(COMMANDS).find((c) => c !== command && (bare in c.flags || (bare.startsWith('no-') && bare.slice(3) in c.flags)));
  if (long && elsewhere) {
    return usage(`${token} is an option of ${elsewhere.name === 'convert' ? 'a conversion' : `repvgg-convert ${elsewhere.name}`}, not of ${commandLabel(command)}`, `repvgg-convert ${elsewhere.name === 'convert' ? '' : `${elsewhere.name} `}--help lists its options`);
  }
  const names = Object.entries(flags).flatMap(([name, f]) => [`--${name}`, ...(f.kind.type === 'boolean' ? [`--no-${name}`] : []), ...(f.alias ? [`-${f.alias}`] : [])]);
  return usage(`unknown option ${token} for ${commandLabel(command)}${didYouMean(token, names)}`, `repvgg-convert ${command.name === 'convert' ? '' : `${command.name} `}--help lists its options`);
}

const commandLabel = (c: Command) => (c.name === 'convert' ? 'a conversion' : `repvgg-convert ${c.name}`);

function namePositionals(command: Command, given: readonly string[], explicit: boolean): Record<string, string> {
  const want = command.positionals;
  if (!explicit && given.length > 0) {
    // `repvgg-convert inspct m.onnx`: a mistyped command, not a missing file.
    const cmd = closest(given[0], Object.keys(COMMANDS).filter((c) => c !== 'convert'));
    if (cmd && !fs.existsSync(given[0])) throw usage(`unknown command '${given[0]}' (did you mean ${cmd}?)`, `repvgg-convert ${cmd} --help`);
  }
  if (given.length > want.length) {
    const extra = given.slice(want.length);
    throw usage(`unexpected argument${extra.length > 1 ? 's' : ''} ${extra.map((e) => `'${e}'`).join(' ')}: ${commandLabel(command)} takes ${want.map((p) => `<${p.name}>`).join(' ')}`, exampleHint(command));
  }
  if (given.length < want.length) {
    const missing = want.slice(given.length);
    throw usage(`missing ${missing.map((p) => `<${p.name}>`).join(' and ')}: ${missing.map((p) => p.describe).join('; ')}`, exampleHint(command));
  }
  return Object.fromEntries(want.map((p, i) => [p.name, given[i]]));
}

function exampleHint(command: Command): string {
  const [args] = command.examples[0];
  return `for example: repvgg-convert ${args}`;
}
