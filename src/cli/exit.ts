// The one exit point: every command returns an exit code or throws; errors are sorted into tiers here.
import { CheckFailedError, UserError } from '../errors';
import { printable, printableText } from '../formats/printable';
import { packageVersion } from '../version';

export const EXIT = { ok: 0, checkFailed: 1, userError: 2, internal: 70 } as const;

export interface Outcome {
  readonly code: number;
  readonly message: string;
}

/** What `--json` prints on stdout for a run that failed before it had a report to print. */
export interface ErrorReport {
  readonly ok: false;
  readonly exitCode: number;
  readonly error: { readonly code: string; readonly message: string; readonly hint?: string };
}

export function errorReport(e: unknown, outcome: Outcome): ErrorReport {
  const err = e instanceof Error ? e : new Error(String(e));
  const code = e instanceof UserError || e instanceof CheckFailedError ? e.code : 'INTERNAL';
  const hint = e instanceof UserError ? e.hint : undefined;
  // The internal tier's message carries the versions and the request to report it.
  const message = code === 'INTERNAL' ? outcome.message : err.message;
  return { ok: false, exitCode: outcome.code, error: { code, message, ...(hint ? { hint } : {}) } };
}

export function classify(e: unknown, debug: boolean): Outcome {
  // Messages can quote names from the file: control characters are escaped so each stays one line.
  if (e instanceof CheckFailedError) return { code: EXIT.checkFailed, message: `check failed: ${printable(e.message, 2000)}` };
  if (e instanceof UserError) {
    const hint = e.hint ? `\n  fix: ${printable(e.hint, 2000)}` : '';
    return { code: EXIT.userError, message: `error: ${printable(e.message, 2000)}${hint}${debug && e.stack ? `\n${frames(e)}` : ''}` };
  }
  const err = e instanceof Error ? e : new Error(String(e));
  const versions = `repvgg-convert ${packageVersion()}, node ${process.version}, ${process.platform}-${process.arch}`;
  return {
    code: EXIT.internal,
    message:
      `internal error: ${printable(err.message, 2000)}\n` +
      `This is a bug in repvgg-convert (${versions}). Please report it with the command you ran and this text:\n${err.name}: ${printable(err.message, 2000)}\n${frames(err)}`,
  };
}

/** A stack's frames without its first line, the message, which may quote names and is printed escaped. */
function frames(e: Error): string {
  const stack = e.stack ?? '';
  const head = e.message ? `${e.name}: ${e.message}` : e.name;
  return printableText(stack.startsWith(head) ? stack.slice(head.length).replace(/^\n/, '') : stack);
}

