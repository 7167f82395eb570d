// Typed errors of the secure-channel layer. `code` is stable; messages name
// the peer and what to do.
import { InselError, type ErrorContext } from '../errors.js';

/** Malformed bytes from the network. Decoders throw only this. */
export class DecodeError extends InselError {
  constructor(message: string, ctx: ErrorContext = {}) {
    super('INSEL_DECODE', message, ctx);
  }
}

/** No common choice, or a broken algorithm was asked for. */
export class NegotiationError extends InselError {
  constructor(code: 'INSEL_NO_COMMON_CHOICE' | 'INSEL_BROKEN_ALGORITHM' | 'INSEL_BAD_OFFER', message: string, ctx: ErrorContext = {}) {
    super(code, message, ctx);
  }
}

/** The peer refused us and told us why (its message is ours verbatim). */
export class RejectedError extends InselError {
  readonly peerCode: string;
  constructor(peerCode: string, message: string, ctx: ErrorContext = {}) {
    super('INSEL_REJECTED', message, ctx);
    this.peerCode = peerCode;
  }
}

export class ChannelError extends InselError {
  constructor(
    code: 'INSEL_CHANNEL_CLOSED' | 'INSEL_PEER_DEAD' | 'INSEL_MESSAGE_TOO_LARGE' | 'INSEL_HANDSHAKE_TIMEOUT' | 'INSEL_UDP_UNREACHABLE' | 'INSEL_CONNECT_FAILED' | 'INSEL_UNAUTH_LIMIT',
    message: string,
    ctx: ErrorContext = {},
  ) {
    super(code, message, ctx);
  }
}
