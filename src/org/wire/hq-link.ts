// A site gateway's link to HQ (insel-org/1 with the site's certificate):
// HqApi over one connection that is re-established with backoff whenever
// it breaks. After every (re)connect the link sends the last registration
// again and re-subscribes if anyone listens for events, before any other
// request goes out, so HQ restarting is invisible to the site beyond a
// short wait. While HQ is unreachable, requests fail at once with
// HqUnavailableError naming HQ and the last cause; HQ's refusals are
// OrgRefusedError. HQ is verified by role (hq) against the site's trust,
// which the link keeps current from HQ's register answers and events.
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { formatHostPort, type HostPort } from '../../net/host-port.js';
import type { IdentityPem } from '../../pki/profile.js';
import { trustFromPem } from '../../pki/trust.js';
import { connectTls } from '../../tls/connect.js';
import { verifyServer } from '../../tls/verify.js';
import { ALPN_ORG } from './constants.js';
import { OrgClientConnection } from './connection.js';
import { HqUnavailableError, OrgRefusedError, WireError } from './errors.js';
import type { Authorization, HqApi, OrgEventMessage, OrgUser, PublishedService, ServiceInfo, TicketInfo } from './hq-api.js';
import type { AnswerBody, RequestBody, RequestType } from './messages.js';

export interface ConnectHqOptions {
  hq: HostPort;
  /** the site's certificate, key, trust bundle and CRL */
  identity: IdentityPem;
  log?: Logger;
  /** TLS handshake and each request (default 10 s) */
  timeoutMs?: number;
  /** reconnect delays: doubling from minMs to maxMs (defaults 200 ms, 10 s) */
  backoff?: { minMs: number; maxMs: number };
}

export type Registration = Parameters<HqApi['register']>[0];

/** Starts connecting at once; requests wait for a connect under way and fail fast while HQ is down. */
export function connectHq(o: ConnectHqOptions): HqLink {
  return new HqLink(o);
}

export class HqLink implements HqApi {
  readonly address: string;
  private identity: IdentityPem;
  private conn: OrgClientConnection | undefined;
  private connecting: Promise<void> | undefined;
  private lastCause = 'not connected yet';
  /** HQ refused the registration at the last connect: what register() and requests report until one succeeds */
  private refusal: OrgRefusedError | undefined;
  private registration: Registration | undefined;
  private heartbeatMs = 0;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private delay: number;
  private closed = false;
  private readonly listeners = new Set<(e: OrgEventMessage) => void>();
  private readonly timeoutMs: number;
  private readonly backoff: { minMs: number; maxMs: number };

  constructor(private readonly o: ConnectHqOptions) {
    this.address = formatHostPort(o.hq.host, o.hq.port);
    this.identity = { ...o.identity };
    this.timeoutMs = o.timeoutMs ?? 10_000;
    this.backoff = o.backoff ?? { minMs: 200, maxMs: 10_000 };
    this.delay = this.backoff.minMs;
    this.connectNow();
  }

  /** True while a verified connection to HQ is up. */
  get connected(): boolean {
    return this.conn !== undefined && !this.conn.closed;
  }

  /** A new certificate (after renew) or trust: used from the next connect on. */
  setIdentity(identity: IdentityPem): void {
    this.identity = { ...identity };
  }

  async register(r: Registration): Promise<{ crl: string; ca: string; heartbeatMs: number }> {
    this.registration = r;
    const a = await this.call('register', toRegisterBody(r));
    this.registered(a);
    return a;
  }

  async heartbeat(): Promise<void> {
    await this.call('heartbeat', {});
  }

  authorize(user: OrgUser, service: string): Promise<Authorization> {
    return this.call('authorize', { user, service });
  }

  ticket(ticket: string): Promise<TicketInfo> {
    return this.call('ticket', { ticket });
  }

  async sessionEnd(ticket: string, bytesIn: number, bytesOut: number): Promise<void> {
    await this.call('session-end', { ticket, bytesIn, bytesOut });
  }

  async services(user: OrgUser): Promise<ServiceInfo[]> {
    return (await this.call('services', { user })).services;
  }

  userCode(name: string, groups: string[], ttlS: number): Promise<{ code: string; expiresAt: string }> {
    return this.call('user-code', { name, groups, ttlS });
  }

  redeem(code: string, csr: string): Promise<{ cert: string; ca: string }> {
    return this.call('redeem', { code, csr });
  }

  /** A new certificate for the site's key (or a new key) from HQ's current root: after a CA rollover. */
  renew(csr: string): Promise<{ cert: string; ca: string }> {
    return this.call('renew', { csr });
  }

  renewUser(user: OrgUser, csr: string): Promise<{ cert: string; ca: string }> {
    return this.call('renew-user', { user, csr });
  }

  callUser(from: OrgUser, to: string): Promise<{ callId: string; expiresAt: string }> {
    return this.call('call', { from, to });
  }

  onEvent(fn: (e: OrgEventMessage) => void): () => void {
    this.listeners.add(fn);
    if (this.listeners.size === 1 && (this.connected || this.connecting !== undefined)) this.call('subscribe', {}).catch((err: unknown) => this.o.log?.warn({ hq: this.address, reason: (err as Error).message }, 'subscribe to HQ failed'));
    return () => this.listeners.delete(fn);
  }

  close(): void {
    this.closed = true;
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.retryTimer);
    this.conn?.close('INSEL_ORG_BYE', 'the site is stopping');
    this.conn = undefined;
  }

  private async call<T extends RequestType>(type: T, body: RequestBody<T>): Promise<AnswerBody<T>> {
    if (this.connecting !== undefined) await this.connecting;
    const conn = this.conn;
    if (conn === undefined || conn.closed) throw this.refusal ?? new HqUnavailableError(this.address, this.lastCause);
    return this.send(conn, type, body);
  }

  private send<T extends RequestType>(conn: OrgClientConnection, type: T, body: RequestBody<T>): Promise<AnswerBody<T>> {
    return new Promise<AnswerBody<T>>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new HqUnavailableError(this.address, `no answer to ${type} within ${this.timeoutMs} ms`));
        conn.close('INSEL_WIRE_STALLED', `no answer to ${type} within ${this.timeoutMs} ms`);
      }, this.timeoutMs);
      conn.request(type, body).then(
        (a) => {
          clearTimeout(timer);
          resolve(a);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(err instanceof WireError ? new HqUnavailableError(this.address, err.reason, err) : err);
        },
      );
    });
  }

  private connectNow(): void {
    this.connecting = this.attempt().finally(() => (this.connecting = undefined));
  }

  private async attempt(): Promise<void> {
    let socket: TLSSocket | undefined;
    try {
      socket = await connectTls({ host: this.o.hq.host, port: this.o.hq.port, identity: this.identity, alpn: [ALPN_ORG], timeoutMs: this.timeoutMs, what: 'HQ', noDelay: true });
      verifyServer(socket, trustFromPem(this.identity.ca, this.identity.crl), this.address, { roles: ['hq'], pin: () => '' });
      const conn = new OrgClientConnection(socket, { peer: this.address, onClose: (i) => this.lost(conn, i.reason) }, (e) => this.event(e));
      if (this.registration !== undefined) this.registered(await this.send(conn, 'register', toRegisterBody(this.registration)));
      if (this.listeners.size > 0) await this.send(conn, 'subscribe', {});
      if (this.closed) return conn.close('INSEL_ORG_BYE', 'the site is stopping');
      this.conn = conn;
      this.refusal = undefined;
      this.delay = this.backoff.minMs;
      this.o.log?.info({ hq: this.address }, 'connected to HQ');
    } catch (err) {
      socket?.destroy();
      this.refusal = err instanceof OrgRefusedError ? err : undefined;
      this.lastCause = err instanceof HqUnavailableError ? err.message.replace(/^HQ at \S+ is unreachable: /, '') : err instanceof OrgRefusedError ? `HQ refused the site: ${err.reason}` : (err as Error).message;
      this.o.log?.warn({ hq: this.address, reason: this.lastCause }, 'cannot connect to HQ; retrying');
      this.retry();
    }
  }

  private lost(conn: OrgClientConnection, reason: string): void {
    if (this.conn !== conn) return;
    this.conn = undefined;
    this.lastCause = `the connection was lost: ${reason}`;
    this.o.log?.warn({ hq: this.address, reason }, 'connection to HQ lost; reconnecting');
    this.retry();
  }

  private retry(): void {
    if (this.closed || this.retryTimer !== undefined) return;
    const wait = this.delay * (0.75 + Math.random() / 2);
    this.delay = Math.min(this.delay * 2, this.backoff.maxMs);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.closed) this.connectNow();
    }, wait);
    this.retryTimer.unref();
  }

  private registered(a: { crl: string; ca: string; heartbeatMs: number }): void {
    this.identity = { ...this.identity, ca: a.ca, ...(a.crl === '' ? {} : { crl: a.crl }) };
    if (a.heartbeatMs === this.heartbeatMs && this.heartbeatTimer !== undefined) return;
    clearInterval(this.heartbeatTimer);
    this.heartbeatMs = a.heartbeatMs;
    this.heartbeatTimer = setInterval(() => {
      if (this.connected) this.heartbeat().catch((err: unknown) => this.o.log?.warn({ hq: this.address, reason: (err as Error).message }, 'heartbeat to HQ failed'));
    }, a.heartbeatMs);
    this.heartbeatTimer.unref();
  }

  private event(e: OrgEventMessage): void {
    if (e.kind === 'trust') this.identity = { ...this.identity, ca: e.ca };
    if (e.kind === 'revoked' && e.crl !== '') this.identity = { ...this.identity, crl: e.crl };
    for (const fn of this.listeners) {
      try {
        fn(e);
      } catch (err) {
        this.o.log?.error({ hq: this.address, event: e.kind, reason: (err as Error).message }, 'an HQ event listener failed');
      }
    }
  }
}

function toRegisterBody(r: Registration): RequestBody<'register'> {
  return { site: r.site, public: r.public, ...(r.udp === undefined ? {} : { udp: r.udp }), services: r.services.map((s: PublishedService) => ({ name: s.name, proto: s.proto, groups: s.groups })) };
}
