// The HQ daemon's network side: one TLS listener (with the unauthenticated
// gate) speaking insel-org/1 to verified sites (and HQ-role tools) and
// insel-enroll/1 to anyone holding a code. All state is in the registry;
// what this process holds is its connections. Changes published by any
// process on the same database (a revocation, a rollover, a site that
// registered) arrive through registry.subscribe and are pushed to the
// subscribed gateways; connections whose certificate a new CRL refuses are
// closed with the reason.
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { z } from 'zod';
import { InselError } from '../../errors.js';
import { formatHostPort } from '../../net/host-port.js';
import { SummaryLog } from '../../net/summary-log.js';
import type { Identity } from '../../pki/identity.js';
import { trustFromPem, type Trust } from '../../pki/trust.js';
import { peerChain, verifyPeer, verifyPeerChain } from '../../pki/verify.js';
import { TlsListener } from '../../tls/listen.js';
import { serverContext } from '../../tls/options.js';
import { ALPN_ENROLL, ALPN_ORG } from '../wire/constants.js';
import { OrgServerConnection } from '../wire/connection.js';
import { encodeFrame } from '../wire/frame.js';
import type { OrgEventMessage } from '../wire/hq-api.js';
import { ORG_REQUESTS, orgEvent, requestsSchema } from '../wire/messages.js';
import { serveEnrollOnce } from '../site/enroll-forward.js';
import type { HqConfig } from './config.js';
import { CHANGE_CALL, CHANGE_REVOKED, CHANGE_SERVICES, CHANGE_TRUST, SETTING_CA, SETTING_CRL, type HqContext } from './context.js';
import { redeem } from './enroll.js';
import { refuse } from './errors.js';
import { hqIdentity, trustBundle } from './org-pki.js';
import { handleSiteRequest, type OrgRequest } from './site-session.js';
import { mintTicket } from './authorize.js';
import { HqCalls, registryLookups } from '../call/hq-calls.js';

interface Member {
  conn: OrgServerConnection<(typeof ORG_REQUESTS)[number]>;
  identity: Identity;
  chain: Buffer[];
  peer: string;
  subscribed: boolean;
}

/** Connections one site (or HQ-role tool) may hold at once: a gateway needs one; a few more cover restarts that overlap. */
export const CONNECTIONS_PER_MEMBER = 8;

const revokedChange = z.object({ serials: z.array(z.string()), names: z.array(z.object({ role: z.string(), name: z.string() })), reason: z.string() });
const orgSchema = requestsSchema(ORG_REQUESTS);

export class HqServer {
  private trust!: Trust;
  private readonly joined = new Set<Member>();
  private readonly sockets = new Set<Socket>();
  private readonly unauthLog: SummaryLog;
  private listener!: TlsListener;
  private sweeper: NodeJS.Timeout | undefined;
  private unsubscribe: () => void = () => undefined;
  /** calls ringing, held by this process (org/call/hq-calls.ts) */
  private readonly calls: HqCalls;

  private constructor(
    private readonly ctx: HqContext,
    private readonly config: HqConfig,
  ) {
    this.unauthLog = new SummaryLog(ctx.log, 'unauthenticated connections', { listener: 'hq' });
    this.calls = new HqCalls({
      ...registryLookups(ctx.registry),
      mintTicket: (user, service, targetSite) => mintTicket(ctx, user.site, user.name, `${service}@${targetSite}`, targetSite),
      // Through the registry, so the callee's site hears it whichever HQ it is linked to.
      push: (e) => void ctx.registry.publish({ kind: CHANGE_CALL, subject: JSON.stringify(e) }).catch((err: unknown) => ctx.log.error({ reason: (err as Error).message }, 'publishing a call failed')),
    });
  }

  static async start(ctx: HqContext, config: HqConfig): Promise<HqServer> {
    const hq = new HqServer(ctx, config);
    await hq.loadTrust();
    hq.listener = new TlsListener({
      identity: hq.tlsIdentity(),
      alpn: [ALPN_ORG, ALPN_ENROLL],
      noDelay: true,
      unauth: config.unauth,
      onGateClose: (why, source) => hq.unauthLog.count(why === 'capped' ? 'capped' : 'timedOut', source),
      onTlsError: (err, source) => hq.unauthLog.count('failed', source, err.message.slice(0, 80)),
    });
    hq.listener.server.on('connection', (s: Socket) => {
      hq.sockets.add(s);
      s.once('close', () => hq.sockets.delete(s));
    });
    hq.listener.server.on('secureConnection', (s: TLSSocket) => hq.accept(s));
    hq.unsubscribe = ctx.registry.subscribe((c) => void hq.onChange(c).catch((err: unknown) => ctx.log.error({ change: c.kind, reason: (err as Error).message }, 'applying a change failed')));
    await hq.listener.listen(config.listen.port, config.listen.host);
    hq.sweeper = setInterval(() => void hq.sweep(), ctx.heartbeatMs);
    hq.sweeper.unref();
    return hq;
  }

  get port(): number {
    return this.listener.port;
  }

  get address(): string {
    return formatHostPort(this.config.listen.host, this.port);
  }

  /** Verified connections now (for tests and status). */
  get members(): number {
    return this.joined.size;
  }

  /** Subscribed gateways now (for tests and status). */
  get subscribers(): number {
    return [...this.joined].filter((m) => m.subscribed).length;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.unsubscribe();
    for (const m of this.joined) m.conn.close('INSEL_HQ_STOPPING', 'HQ is stopping');
    const closed = this.listener.close();
    setTimeout(() => this.sockets.forEach((s) => s.destroy()), 500).unref();
    await closed;
    this.unauthLog.flush();
  }

  private tlsIdentity() {
    return hqIdentity(this.ctx.pkiDir, this.trust.caPem);
  }

  private async loadTrust(): Promise<void> {
    const ca = (await this.ctx.registry.getSetting(SETTING_CA)) ?? trustBundle(this.ctx.pkiDir);
    const crl = await this.ctx.registry.getSetting(SETTING_CRL);
    this.trust = trustFromPem(ca, crl, { ca: 'registry setting "ca"', crl: 'registry setting "crl"' });
  }

  private accept(socket: TLSSocket): void {
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    if (socket.alpnProtocol === ALPN_ENROLL) return this.acceptEnroll(socket);
    let identity: Identity;
    try {
      identity = verifyPeer(socket, this.trust, ['site', 'hq'], peer);
    } catch (err) {
      const code = err instanceof InselError ? err.code : 'INSEL_CERT_REFUSED';
      this.unauthLog.count('refused', socket.remoteAddress ?? 'unknown', code);
      socket.end(encodeFrame({ type: 'error', code, reason: `your certificate was refused: ${(err as Error).message}` }));
      this.listener.refused(socket);
      return;
    }
    const held = [...this.joined].filter((m) => m.identity.role === identity.role && m.identity.name === identity.name).length;
    if (held >= CONNECTIONS_PER_MEMBER) {
      this.ctx.log.warn({ role: identity.role, name: identity.name, from: peer }, 'too many connections');
      socket.end(encodeFrame({ type: 'error', code: 'INSEL_LIMIT', reason: `${identity.role} ${identity.name} has ${held} connections to HQ already (at most ${CONNECTIONS_PER_MEMBER}); close some` }));
      this.listener.refused(socket);
      return;
    }
    this.listener.passed(socket);
    const member: Member = { identity, chain: peerChain(socket), peer, subscribed: false, conn: undefined! };
    member.conn = new OrgServerConnection(
      socket,
      { peer, onClose: (i) => this.left(member, i.code, i.reason) },
      orgSchema,
      (req) => this.handle(member, req),
      (err, type) => this.ctx.log.error({ site: identity.name, type, reason: (err as Error).message }, 'request failed'),
    );
    this.joined.add(member);
    this.ctx.log.info({ role: identity.role, name: identity.name, from: peer }, 'member connected');
  }

  private handle(m: Member, req: OrgRequest): Promise<object> {
    if (m.identity.role !== 'site') {
      if (req.type === 'subscribe') {
        m.subscribed = true;
        return Promise.resolve({});
      }
      return Promise.reject(refuse('INSEL_ORG_FORBIDDEN', `${req.type} is a site's request; ${m.identity.role} ${m.identity.name} may only subscribe`));
    }
    return handleSiteRequest(this.ctx, m.identity.name, req, { subscribe: () => (m.subscribed = true), calls: this.calls });
  }

  private left(m: Member, code: string, reason: string): void {
    this.joined.delete(m);
    this.ctx.log.info({ role: m.identity.role, name: m.identity.name, from: m.peer, code, reason }, 'member disconnected');
  }

  /** insel-enroll/1: one enroll request, answered, then the connection ends. It stays under the unauthenticated gate throughout. */
  private acceptEnroll(socket: TLSSocket): void {
    serveEnrollOnce(socket, this.ctx.log, (code, csr, from) => redeem(this.ctx, code, csr, { at: 'hq', from }));
  }

  private push(e: OrgEventMessage): number {
    let n = 0;
    for (const m of this.joined) {
      if (!m.subscribed) continue;
      m.conn.push(e);
      n++;
    }
    return n;
  }

  private async onChange(c: { kind: string; subject: string }): Promise<void> {
    if (c.kind === CHANGE_CALL) {
      const e = orgEvent.safeParse(safeJson(c.subject));
      if (e.success && e.data.kind === 'call') this.push(e.data);
      return;
    }
    if (c.kind === CHANGE_SERVICES) {
      this.push({ kind: 'services' });
      return;
    }
    if (c.kind === CHANGE_TRUST) {
      await this.loadTrust();
      this.listener.server.setSecureContext(serverContext({ identity: this.tlsIdentity() }));
      this.push({ kind: 'trust', ca: this.trust.caPem });
      this.cutRefused();
      return;
    }
    if (c.kind !== CHANGE_REVOKED) return;
    await this.loadTrust();
    const detail = revokedChange.safeParse(safeJson(c.subject));
    const what = detail.success ? detail.data : { serials: [], names: [], reason: 'revoked' };
    const crl = (await this.ctx.registry.getSetting(SETTING_CRL)) ?? '';
    const n = this.push({ kind: 'revoked', serials: what.serials, names: what.names, crl, reason: what.reason });
    this.ctx.log.info({ serials: what.serials.length, names: what.names.map((x) => `${x.role}:${x.name}`), pushedTo: n }, 'revocation pushed');
    this.cutRefused();
  }

  /** Closes, with the reason, every connection whose certificate the current trust refuses. */
  private cutRefused(): void {
    for (const m of this.joined) {
      try {
        verifyPeerChain(m.chain, this.trust, ['site', 'hq'], m.peer);
      } catch (err) {
        m.conn.close(err instanceof InselError ? err.code : 'INSEL_CERT_REVOKED', `your certificate is no longer accepted: ${(err as Error).message}`);
      }
    }
  }

  /** Sites silent for 3 heartbeat intervals are offline (any HQ may do this; it is idempotent). */
  private async sweep(): Promise<void> {
    try {
      const gone = await this.ctx.registry.markOffline(new Date(this.ctx.now().getTime() - 3 * this.ctx.heartbeatMs));
      for (const site of gone) this.ctx.log.warn({ site }, 'site offline: no heartbeat for 3 intervals');
    } catch (err) {
      this.ctx.log.error({ reason: (err as Error).message }, 'marking silent sites offline failed');
    }
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
