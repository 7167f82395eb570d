// HQ's refusals, as sites receive them ({id, ok: false, code, reason}) and
// HQ's own errors (init, admin commands). A refusal's reason names what was
// refused and why (the group, the service, the site), for the user who
// finally reads it.
import { InselError, type ErrorContext } from '../../errors.js';
import { OrgRefusedError } from '../wire/errors.js';

export type OrgRefusalCode =
  /** the user may not use the service: no common group, not active, not of the asking site */
  | 'INSEL_ORG_DENIED'
  /** no such service at that site */
  | 'INSEL_ORG_UNKNOWN_SERVICE'
  /** the target site is not online */
  | 'INSEL_ORG_SITE_DOWN'
  /** the asking site is not in the registry, or revoked */
  | 'INSEL_ORG_UNKNOWN_SITE'
  /** a ticket unknown, used, expired or for another site */
  | 'INSEL_ORG_TICKET'
  /** a request this identity may not make (role, a group the site may not grant, a user of another site) */
  | 'INSEL_ORG_FORBIDDEN'
  /** a field that passed the schema but makes no sense (an address that does not parse) */
  | 'INSEL_ORG_BAD_REQUEST';

export function refuse(code: OrgRefusalCode, reason: string): OrgRefusedError {
  return new OrgRefusedError(code, reason);
}

/** HQ's own failures: its directory, its PKI, an admin command. */
export class HqError extends InselError {
  constructor(message: string, ctx: ErrorContext = {}) {
    super('INSEL_HQ', message, ctx);
  }
}
