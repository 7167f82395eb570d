// Typed errors of the org control protocol. WireError: the peer broke the
// protocol (a bad frame, bad JSON, a message failing its schema, too many
// requests); the connection closes with a reason frame carrying its code.
// OrgRefusedError: HQ answered a request with a refusal (its code and
// reason). HqUnavailableError: HQ cannot be reached now.
import { InselError } from '../../errors.js';

export type WireErrorCode =
  /** a frame's length is 0 or over 1 MiB */
  | 'INSEL_WIRE_FRAME'
  /** the payload is not UTF-8 JSON holding an object */
  | 'INSEL_WIRE_JSON'
  /** the object fails the message's schema, or is not a message this end accepts */
  | 'INSEL_WIRE_SCHEMA'
  /** more than 16 requests unanswered on one connection */
  | 'INSEL_WIRE_OUTSTANDING'
  /** the peer does not read what we send */
  | 'INSEL_WIRE_STALLED'
  /** the connection ended (or was closed by us) */
  | 'INSEL_WIRE_CLOSED';

export class WireError extends InselError {
  declare readonly code: WireErrorCode;

  constructor(code: WireErrorCode, readonly reason: string, peer?: string) {
    super(code, peer === undefined ? reason : `${peer}: ${reason}`, peer === undefined ? {} : { peer });
  }
}

/** HQ refused a request: `code` and `reason` are HQ's, e.g. INSEL_ORG_DENIED "alice is in none of the groups of ssh@b (admins)". */
export class OrgRefusedError extends InselError {
  constructor(code: string, readonly reason: string, peer?: string) {
    super(code, reason, peer === undefined ? {} : { peer });
  }
}

/** No connection to HQ now: the message names HQ's address and the last cause. */
export class HqUnavailableError extends InselError {
  declare readonly code: 'INSEL_HQ_UNAVAILABLE';

  constructor(hq: string, cause: string, err?: unknown) {
    super('INSEL_HQ_UNAVAILABLE', `HQ at ${hq} is unreachable: ${cause}`, { peer: hq, ...(err === undefined ? {} : { cause: err }) });
  }
}
