// Where output goes: --json reports to stdout, everything meant for people to stderr.

export interface Output {
  readonly json: boolean;
  readonly quiet: boolean;
  readonly verbose: boolean;
  /** Human text (stderr), unless --quiet. */
  say(text: string): void;
  /** Human text shown even under --quiet (errors, failed checks). */
  shout(text: string): void;
  /** The machine-readable report (stdout). */
  report(data: unknown): void;
}

export function makeOutput(flags: { json?: boolean; quiet?: boolean; verbose?: boolean }): Output {
  return {
    json: !!flags.json,
    quiet: !!flags.quiet,
    verbose: !!flags.verbose,
    say(text) {
      if (!flags.quiet) process.stderr.write(`${text}\n`);
    },
    shout(text) {
      process.stderr.write(`${text}\n`);
    },
    report(data) {
      reported = true;
      process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
    },
  };
}

let reported = false;

/** Whether a command has printed its report: under --json, a run that fails before that prints its error instead. */
export function reportPrinted(): boolean {
  return reported;
}
