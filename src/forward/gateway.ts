// The gateway: one TLS 1.3 listener with mutual authentication. HTTP/2
// sessions carry insel forwards (one stream per connection); HTTP/1.1 on
// the same port serves CONNECT and plain proxy requests for standard
// clients (curl --proxy https://…). An optional SecSockets UDP server
// carries UDP forwards. Policy and CRL reload on demand (SIGHUP in the CLI):
// build the new state, swap, then cut what is no longer permitted.
import { createServer as createH2Server, type Http2Server, type ServerHttp2Session, type ServerHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { createServer as createH1Server, type IncomingMessage, type Server as H1Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { InselError } from '../errors.js';
import { ROLES, type Identity } from '../pki/identity.js';
import { staleRootCrl, trustFromPem, type Trust } from '../pki/trust.js';
import { verifyPeer } from '../pki/verify.js';
import { SecServer } from '../secsock/server.js';
import { authorize } from './authorize.js';
import { who, type Logger } from './conn-log.js';
import { readIdentityFiles, type GatewayConfig } from './gateway-config.js';
import { GatewaySession, type ActiveForward } from './gateway-session.js';
import { handleStream, type GatewayContext } from './gateway-streams.js';
import { handleHttp1Connect, handleHttp1Request, type Http1Tunnel } from './http1.js';
import { H2_SETTINGS, MAX_SESSION_MEMORY_MB, SESSION_WINDOW } from './protocol.js';
import { formatHostPort } from './spec.js';
import { UdpGateway } from './udp-gateway.js';
import { WriteAhead } from './write-ahead.js';

export interface GatewayStats {
  sessions: number;
  forwards: number;
  tlsFailures: number;
  udp?: ReturnType<UdpGateway['stats']>;
}

export class Gateway implements GatewayContext {
  private readonly sessions = new Set<GatewaySession>();
  private readonly bySession = new WeakMap<ServerHttp2Session, GatewaySession>();
  /** HTTP/1.1 CONNECT tunnels, re-checked on reload. */
  private readonly tunnels = new Set<Http1Tunnel>();
  /** Every TCP connection, so close() can end HTTP/1.1 and half-handshaken ones too. */
  private readonly sockets = new Set<Socket>();
  private tlsFailures = 0;
  /** The TLS socket whose HTTP/2 session is being set up (see wire()). */
  private handingOver: TLSSocket | undefined;
  trust: Trust;
  /** crl.pem as read, handed to clients that refresh theirs (GET /insel/v1/crl) */
  crlPem: string | undefined;

  private constructor(
    public config: GatewayConfig,
    readonly log: Logger,
    private readonly server: TlsServer,
    private readonly h2: Http2Server,
    private readonly h1: H1Server,
    private readonly udpServer: SecServer | undefined,
    private readonly udp: UdpGateway | undefined,
    ca: string,
    crl: string | undefined,
  ) {
    this.trust = trustFromPem(ca, crl);
    this.crlPem = crl;
    this.warnIfStale();
  }

  /** Our own CRL past its nextUpdate only warns: refusing every client would cut the network off. Clients refuse it (PROTOCOL §1). */
  private warnIfStale(): void {
    const stale = staleRootCrl(this.trust, new Date());
    if (stale) this.log.warn({ nextUpdate: stale.nextUpdate.toISOString() }, 'CRL is stale: clients without a fresher one refuse this gateway; run insel pki crl, copy crl.pem here and reload (SIGHUP)');
  }

  static async start(config: GatewayConfig, log: Logger): Promise<Gateway> {
    const pem = readIdentityFiles(config.identity, config.file);
    // One TLS listener; ALPN picks the protocol: h2 (insel clients) goes to
    // an HTTP/2 server over a WriteAhead (write-ahead.ts), http/1.1 (curl as
    // a proxy client) to an HTTP/1.1 server. Neither of those listens itself.
    const server = createTlsServer({
      key: pem.key,
      cert: pem.cert,
      ca: pem.ca,
      requestCert: true,
      rejectUnauthorized: false, // verifyPeer decides, and the client is told which check failed
      minVersion: 'TLSv1.3',
      ALPNProtocols: ['h2', 'http/1.1'],
      // A client stuck mid-handshake (a partial record, a scanner) holds a socket only this long.
      handshakeTimeout: 10_000,
      // HEADERS and the first DATA of a new stream are small writes: Nagle would hold them.
      noDelay: true,
    });
    const h2 = createH2Server({ settings: H2_SETTINGS, maxSessionMemory: MAX_SESSION_MEMORY_MB });
    const h1 = createH1Server();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.listen.port, config.listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    let udpServer: SecServer | undefined;
    let udp: UdpGateway | undefined;
    let gw: Gateway | undefined;
    try {
      if (config.udpListen) {
        udpServer = await SecServer.listen({
          transport: 'udp',
          host: config.udpListen.host,
          port: config.udpListen.port,
          udpPort: config.udpListen.port,
          identity: { cert: pem.cert, key: pem.key, ca: pem.ca, ...(pem.crl === undefined ? {} : { crl: pem.crl }) },
        });
        udpServer.on('handshakeError', (err: Error) => log.warn({ reason: err.message }, 'udp handshake failed'));
        udp = new UdpGateway({
          server: udpServer,
          idleMs: config.udpIdleTimeoutMs,
          log,
          authorize: (identity, host, port) =>
            authorize(gw!.config.policy, identity, 'connect', 'udp', host, port).then((v) => (v.allow ? { allow: true as const, address: v.address } : { allow: false as const, reason: v.reason })),
        });
        udp.start();
      }
    } catch (err) {
      server.close();
      await udpServer?.close();
      throw err;
    }
    gw = new Gateway(config, log, server, h2, h1, udpServer, udp, pem.ca, pem.crl);
    gw.wire();
    return gw;
  }

  get port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  /** The TCP port of the UDP channels' connection phase, if UDP forwards are on. */
  get udpPort(): number | undefined {
    return this.udpServer?.port;
  }

  get listenAddress(): string {
    return formatHostPort(this.config.listen.host, this.port);
  }

  stats(): GatewayStats {
    let forwards = 0;
    for (const s of this.sessions) forwards += s.forwards.size;
    return { sessions: this.sessions.size, forwards, tlsFailures: this.tlsFailures, ...(this.udp ? { udp: this.udp.stats() } : {}) };
  }

  /**
   * Swaps in a new config (policy) and re-reads the CA and CRL; sessions
   * whose certificate is now refused and forwards the policy no longer
   * permits are closed with the reason. Returns how many were cut. The
   * listen address and identity files are read at start only.
   */
  reload(config: GatewayConfig): { sessions: number; forwards: number; udpFlows: number } {
    const pem = readIdentityFiles(config.identity, config.file);
    const trust = trustFromPem(pem.ca, pem.crl);
    this.config = config;
    this.trust = trust;
    this.crlPem = pem.crl;
    this.warnIfStale();
    this.udpServer?.setTrust(pem.ca, pem.crl);
    const cut = { sessions: 0, forwards: 0, udpFlows: 0 };
    const stillPermitted = (identity: Identity, f: ActiveForward): string | undefined => {
      const d = config.policy.check({ identity, action: f.action, proto: f.proto, host: f.host, address: f.address, port: f.port });
      return d.allow ? undefined : `policy reload: ${d.reason}`;
    };
    for (const s of this.sessions) {
      if (s.identity === undefined) continue;
      const refused = this.refusedNow(s.tls, s.peer, trust);
      if (refused !== undefined) {
        this.log.warn({ ...who(s.identity), from: s.peer, reason: refused }, 'session cut');
        s.cut(refused);
        cut.sessions++;
        continue;
      }
      for (const f of [...s.forwards]) {
        if (f.followsControl !== undefined) continue; // goes with its control connection
        const why = stillPermitted(s.identity, f);
        if (why !== undefined) {
          f.cut(why);
          cut.forwards++;
        }
      }
    }
    for (const t of [...this.tunnels]) {
      const why = this.refusedNow(t.socket, `${t.socket.remoteAddress}:${t.socket.remotePort}`, trust) ?? stillPermitted(t.identity, t.forward);
      if (why !== undefined) {
        t.forward.cut(why);
        cut.forwards++;
      }
    }
    if (this.udp) {
      cut.udpFlows = this.udp.recheck((identity, host, port, address) => {
        // The channel's certificate was checked at its start; a CRL naming its serial now ends it.
        if (trust.crls.some((c) => c.revoked.has(identity.serial))) return `your certificate (serial ${identity.serial}) is revoked`;
        const d = config.policy.check({ identity, action: 'connect', proto: 'udp', host, address, port });
        return d.allow ? undefined : `policy reload: ${d.reason}`;
      });
    }
    this.log.info({ rules: config.policy.size, ...cut }, 'reloaded');
    return cut;
  }

  trackTunnel(tunnel: Http1Tunnel): () => void {
    this.tunnels.add(tunnel);
    return () => this.tunnels.delete(tunnel);
  }

  /** Why a connection's certificate is refused under `trust`, or undefined if it still passes. */
  private refusedNow(socket: TLSSocket, peer: string, trust: Trust): string | undefined {
    try {
      verifyPeer(socket, trust, ROLES, peer);
      return undefined;
    } catch (err) {
      return `your certificate is no longer accepted: ${(err as Error).message}`;
    }
  }

  async close(): Promise<void> {
    for (const s of this.sessions) s.cut('the gateway is shutting down');
    await this.udp?.close();
    await this.udpServer?.close();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      // Sessions got GOAWAY; give them a moment, then drop what is left.
      setTimeout(() => {
        for (const s of this.sessions) s.h2.destroy();
        for (const s of this.sockets) s.destroy();
      }, 1000).unref();
    });
  }

  /** The session of a stream, with its identity checked at session start. */
  sessionOf(h2: ServerHttp2Session): GatewaySession | undefined {
    return this.bySession.get(h2);
  }

  private wire(): void {
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    this.server.on('secureConnection', (socket: TLSSocket) => {
      if (socket.alpnProtocol !== 'h2') return void this.h1.emit('connection', socket);
      // http2 emits 'session' synchronously inside 'connection'; onSession takes the TLS socket from here.
      this.handingOver = socket;
      this.h2.emit('connection', new WriteAhead(socket));
      this.handingOver = undefined;
    });
    this.h2.on('session', (h2: ServerHttp2Session) => this.onSession(h2));
    this.h2.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
      const session = this.sessionOf(stream.session as ServerHttp2Session);
      if (session === undefined) return stream.close();
      handleStream(this, session, stream, headers);
    });
    this.h2.on('sessionError', (err: Error) => this.log.warn({ reason: err.message }, 'session error'));
    this.h1.on('request', (req: IncomingMessage, res: ServerResponse) => void handleHttp1Request(this, req, res));
    this.h1.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => void handleHttp1Connect(this, req, socket as TLSSocket, head));
    this.h1.on('clientError', (_err: Error, socket: Duplex) => socket.destroy());
    // Garbage, plain TCP, a wrong CA: only that connection is lost.
    this.server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
      this.tlsFailures++;
      this.log.warn({ from: `${socket.remoteAddress}:${socket.remotePort}`, reason: err.message }, 'tls handshake failed');
    });
  }

  /** The identity behind a TLS socket, or why it is refused. */
  identify(socket: TLSSocket, peer: string): { identity?: Identity; refusal?: { code: string; reason: string } } {
    try {
      return { identity: verifyPeer(socket, this.trust, ROLES, peer) };
    } catch (err) {
      const code = err instanceof InselError ? err.code : 'INSEL_CERT_REFUSED';
      return { refusal: { code, reason: `your certificate was refused: ${(err as Error).message}` } };
    }
  }

  private onSession(h2: ServerHttp2Session): void {
    const socket = this.handingOver;
    if (socket === undefined) return void h2.destroy();
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    const { identity, refusal } = this.identify(socket, peer);
    const session = new GatewaySession(h2, socket, peer, identity, refusal);
    this.sessions.add(session);
    this.bySession.set(h2, session);
    const started = Date.now();
    h2.on('connect', () => h2.setLocalWindowSize(SESSION_WINDOW));
    h2.on('error', () => undefined); // reported by 'close' below
    if (identity) this.log.info({ ...who(identity), from: peer }, 'session');
    else this.log.warn({ from: peer, code: refusal!.code, reason: refusal!.reason }, 'session refused');
    h2.once('close', () => {
      this.sessions.delete(session);
      session.closeListeners();
      if (identity) this.log.info({ ...who(identity), from: peer, ms: Date.now() - started }, 'session ended');
    });
  }
}
