// Errors of calls (docs/PROTOCOL.md §7.4): each code is what the user reads as the refusal's reason.
import { InselError, type ErrorContext } from '../../errors.js';

export type CallErrorCode =
  /** `to` is not name@site, or a call id is malformed */
  | 'INSEL_CALL_BAD_REQUEST'
  /** no such user, or revoked */
  | 'INSEL_CALL_UNKNOWN_USER'
  /** no such call ringing (unknown, expired, ended) */
  | 'INSEL_CALL_UNKNOWN'
  /** the call is not this user's to make, answer or join */
  | 'INSEL_CALL_DENIED'
  /** too many calls ringing, agents or invitations */
  | 'INSEL_CALL_LIMIT'
  /** the callee's site is offline or takes no UDP relays */
  | 'INSEL_CALL_SITE_DOWN';

export class CallError extends InselError {
  declare readonly code: CallErrorCode;

  constructor(code: CallErrorCode, message: string, ctx: ErrorContext = {}) {
    super(code, message, ctx);
  }
}
