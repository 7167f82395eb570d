// Typed errors of UDP service forwarding. `code` is stable; messages name
// the address or flow they are about. Wire decoding throws FlowDecodeError,
// a secsock DecodeError, so one `instanceof DecodeError` guard covers every
// parser between the network and insel.
import { InselError, type ErrorContext } from '../errors.js';
import { DecodeError } from '../secsock/errors.js';

/** A malformed flow message from the peer (code INSEL_DECODE). */
export class FlowDecodeError extends DecodeError {}

export type UdpForwardErrorCode =
  /** the local UDP port cannot be bound (in use, not ours, bad address); names bind:port */
  | 'INSEL_FORWARD_BIND'
  /** the target host or port cannot be put on the wire (empty, too long, port 0) */
  | 'INSEL_FORWARD_BAD_TARGET'
  /** a UDP forward was given a TCP channel or server: we never carry UDP inside TCP */
  | 'INSEL_FORWARD_NOT_UDP'
  /** an option is out of range (idleMs, maxFlowsPerChannel) */
  | 'INSEL_FORWARD_OPTION';

export class UdpForwardError extends InselError {
  declare readonly code: UdpForwardErrorCode;

  constructor(code: UdpForwardErrorCode, message: string, ctx: ErrorContext = {}) {
    super(code, message, ctx);
  }
}
