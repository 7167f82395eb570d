// A TLS 1.3 listener with the defences every insel daemon needs before a peer
// is authenticated: the unauthenticated-connection gate (net/unauth-gate.ts:
// caps per source and in all, a deadline from TCP accept however the peer
// trickles bytes) and the closing of connections whose TLS handshake fails.
// The owner verifies each 'secureConnection' and tells the listener: passed
// (off the gate) or refused (a short linger to read the refusal).
import type { Socket } from 'node:net';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { formatHostPort } from '../net/host-port.js';
import { listenReason } from '../net/listen-reason.js';
import { UnauthGate, type GateClose, type Peer, type UnauthLimits } from '../net/unauth-gate.js';
import { TlsListenError } from './errors.js';
import { serverContext, type ServerTlsOptions } from './options.js';

export interface TlsListenerOptions extends ServerTlsOptions {
  unauth: UnauthLimits;
  /** the gate closed a connection: over a cap at accept, or not verified within unauth.timeoutMs */
  onGateClose(why: GateClose, source: string, port: number | undefined): void;
  /** TLS itself failed (garbage, plain TCP, a wrong version): the connection is already closed */
  onTlsError(err: Error, source: string, peer: string): void;
}

export class TlsListener {
  readonly server: Server;
  private readonly gate: UnauthGate;
  private tlsFailures = 0;

  constructor(o: TlsListenerOptions) {
    this.server = createServer(serverContext(o));
    this.gate = new UnauthGate(o.unauth, o.onGateClose);
    this.server.on('connection', (raw: Socket) => this.gate.admit(raw));
    // A client that fails TLS only costs it its connection, closed here (node leaves it open).
    this.server.on('tlsClientError', (err: Error, s: TLSSocket) => {
      s.destroy();
      // Closed beneath TLS (by the gate, which reported it, or by a reset): no address is left, nothing to add.
      if (s.remoteAddress === undefined) return;
      this.tlsFailures++;
      o.onTlsError(err, s.remoteAddress, `${s.remoteAddress}:${s.remotePort}`);
    });
  }

  /** Binds host:port; TlsListenError naming the address and why otherwise. */
  listen(port: number, host: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => reject(new TlsListenError(formatHostPort(host, port), listenReason(err), err));
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
  }

  get port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  /** The peer authenticated: no longer counted against the caps, no deadline. */
  passed(peer: Peer): void {
    this.gate.passed(peer);
  }

  /** The peer was refused and told so: closed after a short linger. */
  refused(peer: Peer): void {
    this.gate.refused(peer);
  }

  stats(): ReturnType<UnauthGate['stats']> & { tlsFailures: number } {
    return { ...this.gate.stats(), tlsFailures: this.tlsFailures };
  }

  /** Stops listening and closes every connection not yet through the gate; resolves when all connections ended. */
  close(): Promise<void> {
    this.gate.close();
    return new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
