// Three tiers of failure, each with its own exit code (see cli/exit.ts).

export type ErrorCode =
  | 'BAD_INPUT'      // a file is not what it claims, or is hostile
  | 'BAD_USAGE'      // flags or paths do not make sense
  | 'UNSUPPORTED'    // valid input the tool cannot handle (yet)
  | 'MISSING_RUNTIME'// an execution provider or tool is not installed
  | 'CANNOT_WRITE'   // the output cannot be written: no space, no permission, a read-only disk
  | 'CHECK_FAILED';  // equivalence did not hold

/** The user can fix this: exit 2. `hint` says how. */
export class UserError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  constructor(message: string, options: { code?: ErrorCode; hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UserError';
    this.code = options.code ?? 'BAD_INPUT';
    this.hint = options.hint;
  }
}

/** "file is not an ONNX model (unexpected end of data at byte 1234)". */
export class FormatError extends UserError {
  readonly file: string;
  readonly format: string;
  readonly offset?: number;
  constructor(file: string, format: string, reason: string, options: { offset?: number; hint?: string } = {}) {
    const where = options.offset === undefined ? '' : ` at byte ${options.offset}`;
    super(`${file} is not ${format} (${reason}${where})`, { code: 'BAD_INPUT', hint: options.hint });
    this.name = 'FormatError';
    this.file = file;
    this.format = format;
    this.offset = options.offset;
  }
}

/** Verification ran and the models differ: exit 1. */
export class CheckFailedError extends Error {
  readonly code: ErrorCode = 'CHECK_FAILED';
  constructor(message: string) {
    super(message);
    this.name = 'CheckFailedError';
  }
}

/** Raised by low-level decoders; callers wrap it into a FormatError naming the file. */
export class DecodeError extends Error {
  readonly offset: number;
  constructor(reason: string, offset: number) {
    super(reason);
    this.name = 'DecodeError';
    this.offset = offset;
  }
}
