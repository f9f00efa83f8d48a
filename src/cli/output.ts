// Where text goes. The report a command exists for goes to stdout, as text, or with --json as one JSON
// document instead; progress, notes, warnings and errors go to stderr. --quiet silences the notes and
// progress, never the report or a warning. Text printed here never carries a control character but the
// newline (names from a file are escaped where they are put in; this is the guard behind that).
import { printableText } from '../formats/printable';
import { packageVersion } from '../version';

export interface Output {
  readonly json: boolean;
  readonly quiet: boolean;
  readonly verbose: boolean;
  /** The command's report as text: stdout, unless --json. */
  report(text: string): void;
  /** The command's report as data: stdout under --json, with the tool's name and version first. */
  document(data: object): void;
  /** A note for people (stderr), unless --quiet. */
  note(text: string): void;
  /** A warning or an error (stderr), always. */
  warn(text: string): void;
  /** Whether the report (text or JSON) has been printed: a run that fails after that prints no error document. */
  readonly printed: boolean;
}

export function makeOutput(flags: { readonly json?: boolean; readonly quiet?: boolean; readonly verbose?: boolean }): Output {
  const json = !!flags.json;
  let printed = false;
  return {
    json,
    get printed() {
      return printed;
    },
    quiet: !!flags.quiet,
    verbose: !!flags.verbose,
    report(text) {
      if (json) return;
      printed = true;
      process.stdout.write(`${printableText(text)}\n`);
    },
    document(data) {
      if (!json) return;
      printed = true;
      process.stdout.write(`${JSON.stringify(jsonDocument(data), null, 2)}\n`);
    },
    note(text) {
      if (!flags.quiet) process.stderr.write(`${printableText(text)}\n`);
    },
    warn(text) {
      process.stderr.write(`${printableText(text)}\n`);
    },
  };
}

/** Every JSON document the tool prints starts with what printed it. */
export function jsonDocument(data: object): object {
  return { tool: { name: 'repvgg-convert', version: packageVersion() }, ...data };
}
