// Typed errors of the IP tunnel daemon; messages name the peer or file and what to do.
import { InselError, type ErrorContext } from '../errors.js';

export type TunnelErrorCode =
  | 'INSEL_TUNNEL_PROTOCOL'
  | 'INSEL_TUNNEL_AUTH'
  | 'INSEL_TUNNEL_FULL'
  | 'INSEL_TUNNEL_UNREACHABLE'
  | 'INSEL_TUNNEL_SETUP'
  | 'INSEL_TUNNEL_STATUS';

export class TunnelError extends InselError {
  constructor(code: TunnelErrorCode, message: string, ctx: ErrorContext = {}) {
    super(code, message, ctx);
  }
}
