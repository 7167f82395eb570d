// A TLS client connection, handshake done within a deadline, or a TlsError
// naming the peer and why. The peer is not verified here: that is
// verifyServer's (verify.ts), once the caller holds its trust.
import type { Duplex } from 'node:stream';
import { connect, type TLSSocket } from 'node:tls';
import { formatHostPort } from '../net/host-port.js';
import { clientContext, type ClientTlsOptions } from './options.js';
import { TlsError } from './errors.js';

export interface ConnectTlsOptions extends ClientTlsOptions {
  timeoutMs: number;
  /** what the peer is, in "is the … running?" (default "server") */
  what?: string;
  /** a connection already open to the peer (e.g. through an HTTP proxy) to run TLS over */
  socket?: Duplex;
}

/**
 * Connects and completes the TLS handshake. With `alpn`, the peer must pick
 * one of them (TlsError INSEL_TLS_PROTOCOL otherwise). The socket comes back
 * with an 'error' listener that ignores errors: the caller's reads and
 * writes report them.
 */
export function connectTls(o: ConnectTlsOptions): Promise<TLSSocket> {
  const peer = formatHostPort(o.host, o.port);
  return new Promise((resolve, reject) => {
    const socket = connect(o.socket === undefined ? clientContext(o) : { ...clientContext(o), socket: o.socket });
    if (o.noDelay === true) socket.setNoDelay(true);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new TlsError('INSEL_TLS_TIMEOUT', `no TLS handshake within ${o.timeoutMs} ms`, peer));
    }, o.timeoutMs);
    const onError = (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err.code === 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL') return reject(notSpoken(o.alpn, peer, err));
      const why = err.code === 'ECONNREFUSED' ? `connection refused (is the ${o.what ?? 'server'} running?)` : (err.code ?? err.message);
      reject(new TlsError('INSEL_TLS_UNREACHABLE', why, peer, err));
    };
    socket.once('error', onError);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      socket.on('error', () => undefined);
      if (o.alpn !== undefined && !o.alpn.includes(socket.alpnProtocol || '')) {
        socket.destroy();
        return reject(notSpoken(o.alpn, peer));
      }
      resolve(socket);
    });
  });
}

/** The peer picked none of our ALPN protocols, or refused them all (a TLS alert). */
function notSpoken(alpn: readonly string[] | undefined, peer: string, cause?: unknown): TlsError {
  return new TlsError('INSEL_TLS_PROTOCOL', `it does not speak ${(alpn ?? []).join(' or ')} over TLS`, peer, cause);
}
