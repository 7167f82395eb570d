// Typed errors of service tunnels. `code` is stable; messages name the spec,
// file or identity they are about and say what to do, so one log line or one
// CLI error is enough to act on.
import { InselError, type ErrorContext } from '../errors.js';
import { DecodeError } from '../secsock/errors.js';

/** A malformed UDP flow message from the peer (code INSEL_DECODE): one `instanceof DecodeError` guard covers every wire parser. */
export class FlowDecodeError extends DecodeError {}

export type ForwardErrorCode =
  /** a -L/-R/-U spec the user typed is malformed (a bad HOST:PORT alone is net/host-port.ts's AddressError; on the wire, a malformed target keeps this code) */
  | 'INSEL_FORWARD_SPEC'
  /** the gateway's policy refused a connect or listen; the message says who and what */
  | 'INSEL_POLICY_DENIED'
  /** the target host name did not resolve */
  | 'INSEL_UNKNOWN_HOST'
  /** the gateway cannot be reached, is not an insel gateway, or its certificate is refused */
  | 'INSEL_GATEWAY'
  /** the gateway refused or lost a request for another reason than policy (its reason is the message) */
  | 'INSEL_GATEWAY_REFUSED'
  /** the gateway could not reach the target */
  | 'INSEL_UNREACHABLE'
  /** a per-identity limit of the gateway ([limits] in its config) refused the request; the message names the key */
  | 'INSEL_LIMIT'
  /** a local listener could not be opened (port in use, no such address); names bind:port */
  | 'INSEL_FORWARD_BIND'
  /** a UDP target host or port cannot be put on the wire (empty, too long, port 0) */
  | 'INSEL_FORWARD_BAD_TARGET'
  /** a UDP forward was given a TCP channel or server: we never carry UDP inside TCP */
  | 'INSEL_FORWARD_NOT_UDP'
  /** an option is out of range (idleMs, maxFlowsPerChannel) */
  | 'INSEL_FORWARD_OPTION';

export class ForwardError extends InselError {
  declare readonly code: ForwardErrorCode;

  constructor(code: ForwardErrorCode, message: string, ctx: ErrorContext = {}) {
    super(code, message, ctx);
  }
}
