// The gateway: one TLS 1.3 listener with mutual authentication, and a
// router that picks the protocol of each verified connection by its ALPN
// name: insel/1 sessions (the mux, src/mux) carry insel forwards (one
// stream per request, routed by kind in forward-requests.ts); HTTP/1.1 (or
// no ALPN) serves CONNECT and plain proxy requests for standard clients
// (curl --proxy https://…). An optional SecSockets UDP server
// carries UDP forwards. Policy and CRL reload on demand (SIGHUP in the CLI):
// build the new state, swap, then cut what is no longer permitted.
import { createServer as createH1Server, type IncomingMessage, type Server as H1Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { InselError } from '../errors.js';
import { DEFAULT_LIMITS as DEFAULT_MUX_LIMITS, GOAWAY_NORMAL, MUX_ALPN, MuxSession, type MuxLimits, type MuxHeaders, type MuxStream } from '../mux/index.js';
import { Router } from '../net/router.js';
import { ROLES, type Identity } from '../pki/identity.js';
import { staleRootCrl, trustFromPem, type Trust } from '../pki/trust.js';
import { verifyPeer } from '../pki/verify.js';
import { SummaryLog } from '../net/summary-log.js';
import { readIdentityFiles } from '../config/identity.js';
import { SecServer } from '../secsock/server.js';
import { TlsListener } from '../tls/listen.js';
import { serverContext } from '../tls/options.js';
import { authorize, type AuthorizeContext } from './authorize.js';
import { who, type Logger } from './conn-log.js';
import type { GatewayConfig } from './config.js';
import { GatewaySession, type ActiveForward, type Refusal } from './session.js';
import { handleStream, refuse, type GatewayContext } from './forward-requests.js';
import { handleHttp1Connect, handleHttp1Request, type Http1Tunnel } from './http1.js';
import { IdentityLimits, type Limits } from './limits.js';
import { NameResolver } from './resolve.js';
import { formatHostPort } from '../net/host-port.js';
import { UdpGateway } from '../udpflow/gateway.js';
import type { GatewayExtension } from './extension.js';

export interface GatewayStats {
  sessions: number;
  forwards: number;
  tlsFailures: number;
  /** connections not yet verified on the TLS port, and how many were closed over a cap or at the handshake timeout */
  unauth: Omit<ReturnType<TlsListener['stats']>, 'tlsFailures'>;
  /** bytes queued towards clients: in the sessions' mux send queues (each at most queued_bytes_per_session) and TLS sockets */
  queuedBytes: number;
  udp?: ReturnType<UdpGateway['stats']>;
}

/** Serves one verified TLS connection (or tells a refused one why) in the protocol its ALPN name chose. */
export type ConnectionHandler = (socket: TLSSocket, verdict: Verdict) => void;

/** Reasons in the aggregated line: the error code if there is one, else the message. */
function reasonOf(err: Error): string {
  return (err as { code?: unknown }).code !== undefined ? String((err as { code?: unknown }).code) : err.message;
}

/** How a SecServer handshake error is counted. */
function handshakeKind(code: string): string {
  if (code === 'INSEL_UNAUTH_LIMIT') return 'capped';
  if (code === 'INSEL_HANDSHAKE_TIMEOUT') return 'timedOut';
  return code.startsWith('INSEL_CERT_') ? 'refused' : 'failed';
}

/** The IP address of "ip:port" (a SecServer error's peer), for counting sources. */
function sourceOf(peer: string | undefined): string {
  return peer?.replace(/:[0-9]+$/, '') ?? 'unknown';
}

export class Gateway implements GatewayContext {
  private readonly sessions = new Set<GatewaySession>();
  /** HTTP/1.1 CONNECT tunnels, re-checked on reload. */
  private readonly tunnels = new Set<Http1Tunnel>();
  /** Every TCP connection, so close() can end HTTP/1.1 and half-handshaken ones too. */
  private readonly sockets = new Set<Socket>();
  /** Connections whose refusal is already counted (HTTP/1.1 re-checks on each request). */
  private readonly refusalCounted = new WeakSet<TLSSocket>();
  trust: Trust;
  readonly limits = new IdentityLimits(() => this.config.limits);
  private resolver: NameResolver;
  /** crl.pem as read, handed to clients that refresh theirs (GET /insel/v1/crl) */
  crlPem: string | undefined;
  generation = 0;

  private constructor(
    public config: GatewayConfig,
    readonly log: Logger,
    /** connections not yet verified are capped per source and in all, closed at the handshake timeout */
    private readonly server: TlsListener,
    /** verified connections by ALPN name: the protocols the gateway speaks */
    readonly protocols: Router<ConnectionHandler>,
    private readonly h1: H1Server,
    private readonly udpServer: SecServer | undefined,
    private readonly udp: UdpGateway | undefined,
    /** failed, stalled and refused connections, one line per interval and port */
    private readonly unauthLogs: { tls: SummaryLog; udp: SummaryLog },
    ca: string,
    crl: string | undefined,
    private readonly extension: GatewayExtension | undefined,
  ) {
    this.trust = trustFromPem(ca, crl);
    this.resolver = new NameResolver(config.dns);
    this.crlPem = crl;
    this.warnIfStale();
  }

  /** What authorize() needs now: the current policy and resolver, the limits. */
  authz(): AuthorizeContext {
    return { policy: this.config.policy, resolver: this.resolver, limits: this.limits };
  }

  /** Our own CRL past its nextUpdate only warns: refusing every client would cut the network off. Clients refuse it (PROTOCOL §1). */
  private warnIfStale(): void {
    const stale = staleRootCrl(this.trust, new Date());
    if (stale) this.log.warn({ nextUpdate: stale.nextUpdate.toISOString() }, 'CRL is stale: clients without a fresher one refuse this gateway; run insel pki crl, copy crl.pem here and reload (SIGHUP)');
  }

  /** `extension`: what an organization's site gateway adds (extension.ts); none for `insel gateway`. */
  static async start(config: GatewayConfig, log: Logger, extension?: GatewayExtension): Promise<Gateway> {
    const pem = readIdentityFiles(config.identity, config.file);
    // One TLS listener. Each protocol registers a handler for verified
    // connections under its ALPN name (the organization's relays will too);
    // the listener offers them in registration order. The HTTP/1.1 server
    // does not listen itself. `gw` is set before any connection is wired.
    const unauthLog = new SummaryLog(log, 'unauthenticated connections closed', { port: 'tls' });
    const udpLog = new SummaryLog(log, 'unauthenticated connections closed', { port: 'udp' });
    let gw: Gateway | undefined;
    const protocols = new Router<ConnectionHandler>('ALPN protocol')
      .register(MUX_ALPN, (socket, verdict) => gw!.onForwardSession(socket, verdict))
      .register('http/1.1', (socket) => void gw!.h1.emit('connection', socket));
    for (const [name, handler] of extension?.protocols ?? []) protocols.register(name, handler);
    const server = new TlsListener({
      identity: pem,
      alpn: protocols.names,
      // OPEN, REPLY and the first DATA of a new stream are small writes: Nagle would hold them.
      noDelay: true,
      unauth: config.unauth,
      onGateClose: (why, source) => unauthLog.count(why === 'capped' ? 'capped' : 'timedOut', source),
      onTlsError: (err, source) => unauthLog.count('failed', source, reasonOf(err)),
    });
    const h1 = createH1Server({
      // A client has handshake_timeout for its request headers, Node's 5 min for a whole request, 5 s idle between requests.
      headersTimeout: config.unauth.timeoutMs,
      requestTimeout: Math.max(config.unauth.timeoutMs, 300_000),
      keepAliveTimeout: 5_000,
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(config.unauth.timeoutMs / 4))),
    });
    // node:http checks headersTimeout and requestTimeout from a ticker it starts on 'listening'; this server
    // never listens (the TLS server hands it connections), so start that ticker here.
    h1.emit('listening');
    await server.listen(config.listen.port, config.listen.host);
    let udpServer: SecServer | undefined;
    let udp: UdpGateway | undefined;
    try {
      if (config.udpListen) {
        udpServer = await SecServer.listen({
          transport: 'udp',
          host: config.udpListen.host,
          port: config.udpListen.port,
          udpPort: config.udpListen.port,
          identity: { cert: pem.cert, key: pem.key, ca: pem.ca, ...(pem.crl === undefined ? {} : { crl: pem.crl }) },
          handshakeTimeoutMs: config.unauth.timeoutMs,
          unauthenticatedPerSource: config.unauth.perSource,
          unauthenticatedTotal: config.unauth.total,
        });
        udpServer.on('handshakeError', (err: Error) => {
          const e = err as Partial<InselError>;
          udpLog.count(handshakeKind(e.code ?? ''), sourceOf(e.peer), reasonOf(err));
        });
        udp = new UdpGateway({
          server: udpServer,
          idleMs: config.udpIdleTimeoutMs,
          log,
          take: (identity, kind) => gw!.limits.take(identity, kind),
          ...(extension?.udpService === undefined ? {} : { openService: extension.udpService }),
          authorize: (identity, host, port) =>
            authorize(gw!.authz(), identity, 'connect', 'udp', host, port).then((v) => (v.allow ? { allow: true as const, address: v.address } : { allow: false as const, reason: v.reason, busy: v.code === 'INSEL_LIMIT' })),
        });
        udp.start();
      }
    } catch (err) {
      void server.close();
      await udpServer?.close();
      throw err;
    }
    gw = new Gateway(config, log, server, protocols, h1, udpServer, udp, { tls: unauthLog, udp: udpLog }, pem.ca, pem.crl, extension);
    gw.wire();
    return gw;
  }

  get port(): number {
    return this.server.port;
  }

  /** The TCP port where clients open SecSockets UDP channels (their connection phase), if UDP forwards are on; the UDP data port comes in ACCEPT. */
  get udpChannelTcpPort(): number | undefined {
    return this.udpServer?.port;
  }

  get listenAddress(): string {
    return formatHostPort(this.config.listen.host, this.port);
  }

  stats(): GatewayStats {
    let forwards = 0;
    let queuedBytes = 0;
    for (const s of this.sessions) {
      forwards += s.forwards.size;
      queuedBytes += s.tls.writableLength + s.mux.queuedBytes;
    }
    const { tlsFailures, ...unauth } = this.server.stats();
    return { sessions: this.sessions.size, forwards, tlsFailures, unauth, queuedBytes, ...(this.udp ? { udp: this.udp.stats() } : {}) };
  }

  /**
   * Swaps in a new config (policy) and re-reads the CA and CRL; sessions
   * whose certificate is now refused and forwards the policy no longer
   * permits are closed with the reason. Returns how many were cut. New TLS
   * connections get the certificate and CA now on disk; the listen
   * addresses (and the UDP channels' certificate) are read at start only.
   */
  reload(config: GatewayConfig): { sessions: number; forwards: number; udpChannels: number; udpFlows: number } {
    const pem = readIdentityFiles(config.identity, config.file);
    const trust = trustFromPem(pem.ca, pem.crl);
    const resolver = new NameResolver(config.dns);
    // New connections get the certificate and CA as now on disk (a renewed certificate, a CA rollover).
    this.server.server.setSecureContext(serverContext({ identity: pem }));
    this.config = config;
    this.trust = trust;
    this.resolver = resolver;
    this.crlPem = pem.crl;
    this.warnIfStale();
    this.udpServer?.setIdentity(pem);
    // UDP channels whose certificate (leaf or site CA) is now refused close here, with all their flows.
    const refusedChannels = this.udpServer?.setTrust(pem.ca, pem.crl) ?? [];
    const cut = { sessions: 0, forwards: 0, udpChannels: this.udp?.dropRefused(refusedChannels) ?? 0, udpFlows: 0 };
    this.generation++;
    for (const s of this.sessions) {
      const refused = this.refusedNow(s.tls, s.peer, trust);
      if (refused !== undefined) {
        this.log.warn({ ...who(s.identity), from: s.peer, reason: refused }, 'session cut');
        s.cut(refused);
        cut.sessions++;
        continue;
      }
      for (const f of [...s.forwards]) {
        if (f.followsControl !== undefined) continue; // goes with its control connection
        const why = this.stillPermitted(s.identity, f);
        if (why !== undefined) {
          f.cut(why);
          cut.forwards++;
        }
      }
    }
    for (const t of [...this.tunnels]) {
      const why = this.refusedNow(t.socket, `${t.socket.remoteAddress}:${t.socket.remotePort}`, trust) ?? this.stillPermitted(t.identity, t.forward);
      if (why !== undefined) {
        t.forward.cut(why);
        cut.forwards++;
      }
    }
    if (this.udp) {
      cut.udpFlows = this.udp.recheck((identity, host, port, address) => {
        const d = config.policy.check({ identity, action: 'connect', proto: 'udp', host, address, port });
        return d.allow ? undefined : `policy reload: ${d.reason}`;
      });
    }
    this.log.info({ rules: config.policy.size, ...cut }, 'reloaded');
    return cut;
  }

  refusedSince(generation: number, tls: TLSSocket, peer: string, identity: Identity, f: Omit<ActiveForward, 'cut'>): string | undefined {
    if (generation === this.generation) return undefined;
    return this.refusedNow(tls, peer, this.trust) ?? this.stillPermitted(identity, f);
  }

  /** Why the current policy (or the forward's own recheck) refuses an open (or just opened) forward, or undefined. */
  private stillPermitted(identity: Identity, f: Omit<ActiveForward, 'cut'>): string | undefined {
    if (f.recheck !== undefined) return f.recheck();
    const d = this.config.policy.check({ identity, action: f.action, proto: f.proto, host: f.host, address: f.address, port: f.port });
    return d.allow ? undefined : `policy reload: ${d.reason}`;
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
    for (const s of this.sessions) s.cut('the gateway is shutting down', GOAWAY_NORMAL);
    const closed = this.server.close(); // stops listening and closes connections not yet verified
    this.h1.close(); // stops its timeout ticker
    await this.udp?.close();
    await this.udpServer?.close();
    this.unauthLogs.tls.flush();
    this.unauthLogs.udp.flush();
    await new Promise<void>((resolve) => {
      void closed.then(resolve);
      // Sessions got GOAWAY; give them a moment, then drop what is left.
      setTimeout(() => {
        for (const s of this.sessions) s.mux.destroy('the gateway is shutting down');
        for (const s of this.sockets) s.destroy();
      }, 1000).unref();
    });
  }

  private wire(): void {
    this.server.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    this.server.server.on('secureConnection', (socket: TLSSocket) => {
      const alpn = socket.alpnProtocol || 'http/1.1';
      if (this.extension?.open?.includes(alpn) === true) return this.protocols.route(alpn)?.(socket, { refusal: { code: 'INSEL_NO_CERT', reason: 'served without a certificate' } });
      const { identity, refusal } = this.identify(socket, `${socket.remoteAddress}:${socket.remotePort}`);
      // Verified: no longer counted against the caps. Refused: told on its first request, closed after a short linger.
      if (identity) this.server.passed(socket);
      else this.server.refused(socket);
      const verdict: Verdict = identity ? { identity } : { refusal: refusal! };
      // A client that offers no ALPN speaks HTTP/1.1.
      this.protocols.route(socket.alpnProtocol || 'http/1.1')?.(socket, verdict);
    });
    this.h1.on('request', (req: IncomingMessage, res: ServerResponse) => void handleHttp1Request(this, req, res));
    this.h1.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => void handleHttp1Connect(this, req, socket as TLSSocket, head));
    this.h1.on('clientError', (_err: Error, socket: Duplex) => socket.destroy());
  }

  /**
   * The identity behind a TLS socket, or why it is refused. A refusal is
   * counted in the aggregated log once per connection, never logged alone:
   * anyone can cause one.
   */
  identify(socket: TLSSocket, peer: string): { identity?: Identity; refusal?: Refusal } {
    try {
      return { identity: verifyPeer(socket, this.trust, ROLES, peer) };
    } catch (err) {
      const code = err instanceof InselError ? err.code : 'INSEL_CERT_REFUSED';
      if (!this.refusalCounted.has(socket)) {
        this.refusalCounted.add(socket);
        this.unauthLogs.tls.count('refused', socket.remoteAddress ?? 'unknown', code);
      }
      return { refusal: { code, reason: `your certificate was refused: ${(err as Error).message}` } };
    }
  }

  /** An insel/1 session: a verified identity within its session limit gets a GatewaySession; others only their refusal. */
  private onForwardSession(socket: TLSSocket, verdict: Verdict): void {
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    const mux = new MuxSession(socket, { side: 'server', peer, limits: muxLimits(this.config.limits) });
    if (verdict.identity === undefined) return refuseSession(mux, verdict.refusal);
    const identity = verdict.identity;
    // Over the identity's session limit: served like a refused certificate (its requests get the reason, then it ends).
    const slot = this.limits.take(identity, 'sessions');
    if (!slot.ok) {
      this.log.warn({ ...who(identity), from: peer, code: slot.code, reason: slot.reason }, 'session refused');
      return refuseSession(mux, slot);
    }
    const session = new GatewaySession(mux, socket, peer, identity);
    this.sessions.add(session);
    const started = Date.now();
    this.log.info({ ...who(identity), from: peer }, 'session');
    mux.on('stream', (stream: MuxStream, headers: MuxHeaders) => {
      stream.on('error', () => undefined); // a reset stream ends its own forward only
      if (this.extension?.request?.(this, session, stream, headers) !== true) handleStream(this, session, stream, headers);
    });
    mux.once('close', (reason: string) => {
      slot.release();
      this.sessions.delete(session);
      session.closeListeners();
      this.log.info({ ...who(identity), from: peer, ms: Date.now() - started, reason }, 'session ended');
    });
  }
}

/**
 * A session's mux limits from [limits]. Every open stream may have its
 * initial window in flight, so the buffer limit is never below that sum: a
 * client within its credit never reaches it, only one that breaks the rules.
 */
function muxLimits(l: Limits): Partial<MuxLimits> {
  return {
    maxStreams: l.streamsPerSession,
    opensPerSecond: l.opensPerSecond,
    maxBufferedPerSession: Math.max(l.queuedBytesPerSession, l.streamsPerSession * DEFAULT_MUX_LIMITS.initialWindow),
    maxQueuedPerSession: l.queuedBytesPerSession,
  };
}

/** What the gateway's certificate check says of a connection. */
export type Verdict = { identity: Identity; refusal?: undefined } | { identity?: undefined; refusal: Refusal };

/** A refused certificate (403) or identity over its session limit (429): each request gets the reason, then the session ends. */
function refuseSession(mux: MuxSession, refusal: Refusal): void {
  mux.on('stream', (stream: MuxStream) => {
    stream.on('error', () => undefined);
    refuse(stream, refusal.status ?? 403, refusal.code, refusal.reason);
    setImmediate(() => mux.goaway(GOAWAY_NORMAL, refusal.reason));
  });
}
