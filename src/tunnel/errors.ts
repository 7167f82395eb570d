// Typed errors of the IP tunnel daemon. `code` is stable; messages name the
// peer (a proxy, a server) or file and what to do.
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

export type ProxyErrorCode = 'INSEL_PROXY_BAD_TARGET' | 'INSEL_PROXY_UNREACHABLE' | 'INSEL_PROXY_TIMEOUT' | 'INSEL_PROXY_REFUSED' | 'INSEL_PROXY_BAD_RESPONSE';

/** An HTTP CONNECT proxy could not give us a tunnel; `status` is its HTTP status when it answered one. */
export class ProxyError extends InselError {
  readonly status: number | undefined;
  constructor(code: ProxyErrorCode, message: string, ctx: ErrorContext & { status?: number } = {}) {
    super(code, message, ctx);
    this.status = ctx.status;
  }
}
