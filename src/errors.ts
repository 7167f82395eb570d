// The root of insel's typed errors. Each folder has its own errors.ts with
// subclasses; callers discriminate with `instanceof` or the stable `code`.
export interface ErrorContext {
  /** who the error is about: a peer address, a certificate name, a channel id */
  peer?: string;
  /** the file or config key the error is about */
  file?: string;
  field?: string;
  cause?: unknown;
}

export class InselError extends Error {
  readonly code: string;
  readonly peer: string | undefined;
  readonly file: string | undefined;
  readonly field: string | undefined;

  constructor(code: string, message: string, ctx: ErrorContext = {}) {
    super(message, ctx.cause === undefined ? undefined : { cause: ctx.cause });
    this.name = new.target.name;
    this.code = code;
    this.peer = ctx.peer;
    this.file = ctx.file;
    this.field = ctx.field;
  }
}

/** A user-facing failure of a CLI command: printed without a stack trace. */
export class UsageError extends InselError {
  constructor(message: string, ctx: ErrorContext = {}) {
    super('INSEL_USAGE', message, ctx);
  }
}

/** Long input is cut in messages: an error line should stay a line. */
const QUOTE_MAX = 120;

/** What a user typed, as it appears in a message: JSON-quoted (control characters visible), cut at 120 characters. */
export function quote(text: string): string {
  return JSON.stringify(text.length > QUOTE_MAX ? `${text.slice(0, QUOTE_MAX)}...` : text);
}
