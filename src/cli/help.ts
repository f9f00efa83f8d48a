// --help and the short usage, written from the command table (flags.ts), wrapped to the terminal.
import { DEFAULT_ATOL, DEFAULT_ATOL_FP16, DEFAULT_RTOL, DEFAULT_RTOL_FP16 } from '../verify/defaults';
import { COMMANDS, Command, CommandName, Flag, GLOBAL_FLAGS } from './flags';

const NAME = 'repvgg-convert';

export function helpText(command: CommandName | undefined, width: number): string {
  const c = COMMANDS[command ?? 'convert'];
  const out: string[] = [];
  if (!command) {
    out.push(
      wrap(`${NAME}: turns a training-time RepVGG-style model (RepVGG, YOLOv6/v7, MobileOne, ACNet) into its deploy form and proves it equivalent with onnxruntime. No Python needed.`, width),
      '',
      'Commands:',
      columns(
        Object.values(COMMANDS).map((k) => [`${NAME} ${signature(k)}`, k.summary]),
        width,
      ),
      '',
    );
  } else out.push(`${NAME} ${signature(c)}`, '', wrap(capitalise(c.summary), width), '');
  out.push('Arguments:', columns(c.positionals.map((p) => [`<${p.name}>`, p.describe]), width), '');
  const flags: Readonly<Record<string, Flag>> = { ...c.flags, ...GLOBAL_FLAGS };
  const groups = new Map<string, [string, string][]>();
  for (const [name, f] of Object.entries(flags)) {
    const rows = groups.get(f.group) ?? [];
    rows.push([flagLabel(name, f), flagText(f)]);
    groups.set(f.group, rows);
  }
  for (const [group, rows] of groups) out.push(`${group}:`, columns(rows, width), '');
  out.push('Examples:', columns(c.examples.map(([args, what]) => [`${NAME} ${args}`, what]), width), '');
  if (c.flags === COMMANDS.convert.flags || c.flags === COMMANDS.verify.flags) {
    out.push(
      wrap(
        `The check: an element fails only if |deploy - train| exceeds both --atol (default ${DEFAULT_ATOL}; FP16 ${DEFAULT_ATOL_FP16}) and --rtol (default ${DEFAULT_RTOL}; FP16 ${DEFAULT_RTOL_FP16}) × |train|; NaN fails.`,
        width,
      ),
    );
  }
  out.push(wrap('Exit codes: 0 success, 1 the models differ, 2 bad input or usage (the message says how to fix it), 70 internal error (please report it).', width));
  if (!command) out.push(wrap(`Each command has its own help: ${NAME} verify --help, ${NAME} inspect --help, ${NAME} bench --help.`, width));
  return out.join('\n');
}

/** What a bare `repvgg-convert` prints: enough to start, and where the rest is. */
export function usageText(width: number): string {
  const c = COMMANDS.convert;
  return [
    wrap(`${NAME}: converts a training-time RepVGG-style model to its deploy form, checked with onnxruntime.`, width),
    '',
    `Usage: ${NAME} ${signature(c)}`,
    `       ${NAME} verify|inspect|bench ...`,
    '',
    'Examples:',
    ...[c.examples[0], c.examples[1], COMMANDS.verify.examples[0], COMMANDS.inspect.examples[0]].map(([args]) => `  ${NAME} ${args}`),
    '',
    `${NAME} --help lists every command and option.`,
  ].join('\n');
}

function signature(c: Command): string {
  const args = c.positionals.map((p) => `<${p.name}>`).join(' ');
  return c.name === 'convert' ? `${args} [options]` : `${c.name} ${args} [options]`;
}

function flagLabel(name: string, f: Flag): string {
  const short = f.alias ? `-${f.alias}, ` : '    ';
  if (f.kind.type === 'boolean') return `${short}--${f.negated ? `no-${name}` : name}`;
  return `${short}--${name} ${f.placeholder ?? 'VALUE'}`;
}

function flagText(f: Flag): string {
  const parts = [f.describe];
  if (f.kind.type === 'choice') parts.push(`(${f.kind.choices.filter((c) => c !== 'plan' && c !== 'engine').join(', ')})`);
  if (f.default !== undefined) parts.push(`[default: ${f.default}]`);
  return parts.join(' ');
}

const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** Two columns: labels padded to the widest (up to a limit), text wrapped beside them. */
function columns(rows: readonly (readonly [string, string])[], width: number): string {
  const left = Math.min(Math.max(...rows.map(([l]) => l.length)) + 2, 44);
  const lines: string[] = [];
  for (const [label, text] of rows) {
    const body = wrapLines(text, Math.max(30, width - left - 2));
    if (label.length + 2 > left) {
      lines.push(`  ${label}`);
      for (const b of body) lines.push(`  ${' '.repeat(left)}${b}`);
    } else body.forEach((b, i) => lines.push(`  ${(i === 0 ? label : '').padEnd(left)}${b}`));
  }
  return lines.join('\n');
}

const wrap = (text: string, width: number) => wrapLines(text, width).join('\n');

function wrapLines(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}
