// Errors of the organization's UDP relays (docs/PROTOCOL.md §7.4).
import { InselError, type ErrorContext } from '../../errors.js';

export type UdpRelayErrorCode =
  /** a peer site answered with a TCP channel where a UDP one was asked for */
  | 'INSEL_RELAY_NOT_UDP'
  /** the site gateway is shutting down */
  | 'INSEL_RELAY_CLOSED';

export class UdpRelayError extends InselError {
  declare readonly code: UdpRelayErrorCode;

  constructor(code: UdpRelayErrorCode, message: string, ctx: ErrorContext = {}) {
    super(code, message, ctx);
  }
}
