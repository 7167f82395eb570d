// Errors of enrollment: a code that cannot be redeemed, each reason with its
// own stable code, and a message that says what is wrong and what to do.
// Thrown by the code parser (code.ts), HQ's redeem path and the enrolling
// client; messages are written for the person holding the code.
import { InselError, type ErrorContext } from '../../errors.js';

export type EnrollErrorCode =
  /** the text is not an enrollment code (wrong shape, characters or length) */
  | 'INSEL_CODE_MALFORMED'
  /** no code with this id exists (or its secret does not match: indistinguishable on purpose) */
  | 'INSEL_CODE_UNKNOWN'
  /** the code was redeemed before: codes are single-use */
  | 'INSEL_CODE_USED'
  /** the code is past its expiry */
  | 'INSEL_CODE_EXPIRED'
  /** the code is for another role or site than where it was given (a site code to insel login, …) */
  | 'INSEL_CODE_SCOPE'
  /** the server's CA is not the one the code pins: not our organization, or a man in the middle */
  | 'INSEL_CODE_PIN';

export class EnrollError extends InselError {
  declare readonly code: EnrollErrorCode;

  constructor(code: EnrollErrorCode, message: string, ctx: ErrorContext = {}) {
    super(code, message, ctx);
  }
}

const ASK = 'ask the administrator for a new code';

/** The standard refusal for `code`; `detail` (e.g. "it was for site branch") is put before what to do. */
export function enrollRefusal(code: Exclude<EnrollErrorCode, 'INSEL_CODE_MALFORMED'>, detail?: string): EnrollError {
  const what: Record<typeof code, string> = {
    INSEL_CODE_UNKNOWN: 'this enrollment code is unknown (mistyped, or never issued by this organization)',
    INSEL_CODE_USED: 'this enrollment code was already used: each code enrolls once',
    INSEL_CODE_EXPIRED: 'this enrollment code has expired',
    INSEL_CODE_SCOPE: 'this enrollment code is not for this use',
    INSEL_CODE_PIN: "the server's CA is not the one this enrollment code pins (another organization, or someone in between); nothing was sent",
  };
  const fix = code === 'INSEL_CODE_PIN' ? 'check the --hq/--site address, or ' + ASK : code === 'INSEL_CODE_UNKNOWN' ? `check it was copied whole, or ${ASK}` : ASK;
  return new EnrollError(code, `${what[code]}${detail === undefined ? '' : ` (${detail})`}; ${fix}`, { field: 'code' });
}
