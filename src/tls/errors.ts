// Typed errors of TLS set-up. `reason` is the bare why, without the peer, so
// that each component can put it in its own words ("cannot reach gateway X:
// <reason>"); the message says it with the peer.
import { InselError } from '../errors.js';

export type TlsErrorCode =
  /** no TLS handshake within the timeout */
  | 'INSEL_TLS_TIMEOUT'
  /** the TCP connection or the TLS handshake failed */
  | 'INSEL_TLS_UNREACHABLE'
  /** the peer did not pick one of the ALPN protocols we offered */
  | 'INSEL_TLS_PROTOCOL';

export class TlsError extends InselError {
  declare readonly code: TlsErrorCode;

  constructor(
    code: TlsErrorCode,
    readonly reason: string,
    peer: string,
    cause?: unknown,
  ) {
    super(code, `TLS connection to ${peer}: ${reason}`, { peer, ...(cause === undefined ? {} : { cause }) });
  }
}

/** A TLS listener could not bind its address: `peer` is that address. */
export class TlsListenError extends InselError {
  declare readonly code: 'INSEL_TLS_LISTEN';

  constructor(address: string, reason: string, cause: unknown) {
    super('INSEL_TLS_LISTEN', `cannot listen on ${address}: ${reason}`, { peer: address, cause });
  }
}
