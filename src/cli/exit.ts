// The one exit point: every command returns an exit code or throws; errors are sorted into tiers here.
import { CheckFailedError, UserError } from '../errors';

export const EXIT = { ok: 0, checkFailed: 1, userError: 2, internal: 70 } as const;

export interface Outcome {
  readonly code: number;
  readonly message: string;
}

export function classify(e: unknown, debug: boolean): Outcome {
  if (e instanceof CheckFailedError) return { code: EXIT.checkFailed, message: `check failed: ${e.message}` };
  if (e instanceof UserError) {
    const hint = e.hint ? `\n  fix: ${e.hint}` : '';
    return { code: EXIT.userError, message: `error: ${e.message}${hint}${debug && e.stack ? `\n${e.stack}` : ''}` };
  }
  const err = e instanceof Error ? e : new Error(String(e));
  const versions = `repvgg-convert ${packageVersion()}, node ${process.version}, ${process.platform}-${process.arch}`;
  return {
    code: EXIT.internal,
    message:
      `internal error: ${err.message}\n` +
      `This is a bug in repvgg-convert (${versions}). Please report it with the command you ran and this text:\n${err.stack ?? err.message}`,
  };
}

export function packageVersion(): string {
  // dist/cli/exit.js → ../../package.json
  return (require('../../package.json') as { version: string }).version;
}
