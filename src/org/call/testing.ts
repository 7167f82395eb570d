// Test parts for UDP services and calls across sites, before (and beside)
// the real HQ and site gateway: an org PKI, an in-memory HQ that keeps the
// HqApi contract (tickets single-use, bound to the target site and the
// relaying site, 30 s), and a "site": its SecSockets UDP server with the
// UdpGateway, UdpRelay, UdpPeers and SiteCalls, plus an insel/1 control port
// serving the call requests. Everything on loopback.
import { once } from 'node:events';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer as createTcp, connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { createServer, type TLSSocket } from 'node:tls';
import { initCa } from '../../pki/ca.js';
import { issueCert } from '../../pki/issue.js';
import { loadProfile, type IdentityPem } from '../../pki/profile.js';
import { trustFromPem } from '../../pki/trust.js';
import { verifyPeer } from '../../pki/verify.js';
import type { Identity } from '../../pki/identity.js';
import { MUX_ALPN, MuxSession, type MuxHeaders, type MuxStream } from '../../mux/index.js';
import { refuse } from '../../gateway/forward-requests.js';
import { PATH_CRL, PATH_INFO } from '../../forward/protocol.js';
import { ForwardSession } from '../../forward/session.js';
import { SecServer } from '../../secsock/server.js';
import { UdpGateway } from '../../udpflow/gateway.js';
import type { LocalService, UdpRelay } from '../site/udp-relay.js';
import { SiteUdp } from '../site/udp-site.js';
import type { Authorization, HqApi, OrgEventMessage, OrgUser, ServiceInfo, SiteAddress, TicketInfo } from '../wire/hq-api.js';
import { HqCalls } from './hq-calls.js';
import type { SiteCalls } from './site-calls.js';

export const LOOP = '127.0.0.1';

export interface OrgPki {
  dir: string;
  profile(name: string): Required<Pick<IdentityPem, 'cert' | 'key' | 'ca'>> & IdentityPem;
  cleanup(): void;
}

/** Sites a and b (site certs, plus a `server` cert "<site>-gw" for the test control port); users of each. */
export async function makeOrgPki(users: { name: string; site: string; groups: string[] }[]): Promise<OrgPki> {
  const dir = mkdtempSync(join(tmpdir(), 'insel-org-udp-'));
  try {
    await initCa({ dir, org: 'Org' });
    for (const site of ['site-a', 'site-b']) {
      await issueCert({ dir, role: 'site', name: site, hosts: [LOOP] });
      await issueCert({ dir, role: 'server', name: `${site}-gw`, hosts: [LOOP] });
    }
    for (const u of users) await issueCert({ dir, role: 'user', name: u.name, site: u.site, groups: u.groups });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return { dir, profile: (name) => loadProfile(dir, name) as ReturnType<OrgPki['profile']>, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

interface Ticket {
  user: OrgUser;
  service: string;
  fromSite: string;
  targetSite: string;
  expires: number;
}

/** HQ in memory: services with groups, sites' addresses, single-use tickets, calls (HqCalls, the real handler). */
export class FakeHq {
  readonly sites = new Map<string, SiteAddress>();
  readonly services = new Map<string, { proto: 'tcp' | 'udp'; groups: string[] }>();
  readonly users = new Map<string, { name: string; site: string; status: 'active' | 'revoked' }>();
  readonly tickets = new Map<string, Ticket>();
  readonly listeners = new Set<(e: OrgEventMessage) => void>();
  readonly calls: HqCalls;
  /** every ticket claim and its verdict, for attack tests */
  readonly claims: { ticket: string; by: string; ok: boolean }[] = [];

  constructor() {
    this.calls = new HqCalls({
      user: async (name) => this.users.get(name),
      site: async (name) => this.sites.get(name),
      mintTicket: async (user, service, targetSite) => this.mint(user, `${service}@${targetSite}`, user.site, targetSite),
      push: (e) => {
        for (const fn of this.listeners) fn(e);
      },
    });
  }

  mint(user: OrgUser, service: string, fromSite: string, targetSite: string): string {
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(16).toString('hex');
    this.tickets.set(`${id}.${secret}`, { user, service, fromSite, targetSite, expires: Date.now() + 30_000 });
    return `${id}.${secret}`;
  }

  /** The HqApi (and CallApi) a site's link would give it. */
  forSite(site: string): HqApi {
    const refused = (reason: string) => Object.assign(new Error(reason), { code: 'INSEL_ORG_DENIED' });
    return {
      register: async () => ({ crl: '', ca: '', heartbeatMs: 5000 }),
      heartbeat: async () => undefined,
      authorize: async (user: OrgUser, service: string): Promise<Authorization> => {
        if (user.site !== site) throw refused(`site ${site} cannot speak for ${user.name}@${user.site}`);
        if (service.startsWith('call:')) return this.calls.authorize(site, user, service);
        const s = this.services.get(service);
        if (s === undefined) throw Object.assign(new Error(`no service ${service}`), { code: 'INSEL_ORG_UNKNOWN_SERVICE' });
        if (!s.groups.some((g) => user.groups.includes(g))) throw refused(`${user.name}@${user.site} is in none of ${service}'s groups (${s.groups.join(', ')})`);
        const [name, target] = service.split('@') as [string, string];
        const addr = this.sites.get(target)!;
        return { ticket: this.mint(user, service, site, target), site: addr, service: { name, proto: s.proto } };
      },
      ticket: async (ticket: string): Promise<TicketInfo> => {
        const t = this.tickets.get(ticket);
        this.tickets.delete(ticket);
        const ok = t !== undefined && t.targetSite === site && t.expires > Date.now();
        this.claims.push({ ticket, by: site, ok });
        if (!ok) throw refused('unknown, used, expired or foreign ticket');
        return { user: t.user, service: t.service, fromSite: t.fromSite };
      },
      sessionEnd: async () => undefined,
      services: async (): Promise<ServiceInfo[]> => [],
      userCode: async () => ({ code: '', expiresAt: '' }),
      redeem: async () => ({ cert: '', ca: '' }),
      onEvent: (fn) => {
        this.listeners.add(fn);
        return () => this.listeners.delete(fn);
      },
      callUser: (from: OrgUser, to: string) => this.calls.call(site, from, to),
    };
  }
}

export interface TestSite {
  name: string;
  /** the SecSockets UDP server's TCP port (connection phase; what HQ publishes as the site's udp) */
  udpPort: number;
  /** its UDP port (the data) */
  udpDataPort: number;
  /** the insel/1 control port (call requests) */
  ctlPort: number;
  gateway: UdpGateway;
  relay: UdpRelay;
  calls: SiteCalls;
  logs: { msg: string; [k: string]: unknown }[];
  close(): Promise<void>;
}

export interface SiteOptions {
  services?: LocalService[];
  /** the site's local rules; default: allow */
  localCheck?: (user: Identity, service: string, site: string) => string | undefined;
  idleMs?: number;
  maxFlowsPerUser?: number;
}

export async function startSite(pki: OrgPki, hq: FakeHq, name: string, o: SiteOptions = {}): Promise<TestSite> {
  const logs: TestSite['logs'] = [];
  const log = {
    info: (obj: object, msg: string) => void logs.push({ ...obj, msg }),
    warn: (obj: object, msg: string) => void logs.push({ ...obj, msg }),
  };
  const identity = pki.profile(name);
  const server = await SecServer.listen({ transport: 'udp', host: LOOP, port: 0, identity });
  const api = hq.forSite(name);
  const udp = new SiteUdp({
    site: name,
    hq: api,
    identity: () => identity,
    log,
    service: (svc) => o.services?.find((s) => s.name === svc),
    localCheck: o.localCheck ?? (() => undefined),
    ...(o.maxFlowsPerUser === undefined ? {} : { maxFlowsPerUser: o.maxFlowsPerUser }),
  });
  const off = api.onEvent(udp.onEvent);
  const gateway = new UdpGateway({ server, idleMs: o.idleMs ?? 30_000, log, authorize: async () => ({ allow: false, reason: 'no host:port flows at a test site' }), openService: udp.openService });
  gateway.start();
  hq.sites.set(name, { name, public: `${LOOP}:1`, udp: `${LOOP}:${server.port}` });
  const ctl = await controlPort(pki.profile(`${name}-gw`), server.port, udp);
  return {
    name,
    udpPort: server.port,
    udpDataPort: server.udpPort!,
    ctlPort: ctl.port,
    gateway,
    relay: udp.relay,
    calls: udp.calls,
    logs,
    async close() {
      off();
      await ctl.close();
      await udp.close();
      await gateway.close();
      await server.close();
    },
  };
}

/** The site's insel/1 port as far as these tests need it: info, no CRL, the call requests. */
async function controlPort(identity: IdentityPem, udpPort: number, udp: SiteUdp): Promise<{ port: number; close(): Promise<void> }> {
  const trust = trustFromPem(identity.ca, identity.crl);
  const sockets = new Set<TLSSocket>();
  const server = createServer({ cert: identity.cert, key: identity.key, ca: identity.ca, requestCert: true, rejectUnauthorized: true, ALPNProtocols: [MUX_ALPN], minVersion: 'TLSv1.3' }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    const id = verifyPeer(socket, trust, ['user']);
    const mux = new MuxSession(socket, { side: 'server', peer: id.name });
    mux.on('stream', (stream: MuxStream, headers: MuxHeaders) => {
      if (udp.request(id, stream, headers)) return;
      if (headers[':path'] === PATH_INFO) {
        stream.respond({ ':status': '200' });
        return void stream.end(JSON.stringify({ udpChannelTcpPort: udpPort }));
      }
      refuse(stream, 404, headers[':path'] === PATH_CRL ? 'INSEL_NO_CRL' : 'INSEL_NOT_FOUND', 'not here');
    });
  });
  server.listen(0, LOOP);
  await once(server, 'listening');
  return {
    port: (server.address() as { port: number }).port,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/** A user's session with its site's control port. */
export function userSession(pki: OrgPki, site: TestSite, user: string): Promise<ForwardSession> {
  return ForwardSession.open({ via: { host: LOOP, port: site.ctlPort }, identity: pki.profile(user), gatewayName: `${site.name}-gw` });
}

export function bound(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
    s.once('error', reject);
    s.bind(0, LOOP, () => resolve(s));
  });
}

export function closeSocket(s: Socket): Promise<void> {
  return new Promise((r) => s.close(() => r()));
}

/** A UDP echo server counting what it got. */
export async function udpEcho(): Promise<{ port: number; received: () => number; close(): Promise<void> }> {
  const s = await bound();
  let received = 0;
  s.on('message', (m: Buffer, from: RemoteInfo) => {
    received++;
    s.send(m, from.port, from.address);
  });
  return { port: s.address().port, received: () => received, close: () => closeSocket(s) };
}

/** A sequenced datagram: u32 seq, a marker, then filler. */
export function datagram(i: number, marker: string): Buffer {
  const b = Buffer.alloc(4 + marker.length + (i % 200));
  b.writeUInt32BE(i, 0);
  b.write(marker, 4, 'latin1');
  return b;
}

/**
 * Sends `n` sequenced datagrams from `from` to `port` in windows of 64,
 * each window waiting (at most 2 s) until `arrived()` grew by its size;
 * returns how many went unaccounted. The first goes alone (a new flow holds
 * only a few datagrams until it is OPENED).
 */
export async function pump(from: Socket, port: number, n: number, marker: string, arrived: () => number): Promise<number> {
  const WINDOW = 64;
  const start = arrived();
  for (let base = 0; base < n; base += base === 0 ? 1 : WINDOW) {
    const end = Math.min(base === 0 ? 1 : base + WINDOW, n);
    const before = arrived();
    for (let i = base; i < end; i++) from.send(datagram(i, marker), port, LOOP);
    await waitFor(() => arrived() - before >= end - base, base === 0 ? 5_000 : 2_000);
  }
  return n - (arrived() - start);
}

/** Resolves when `pred` holds, or after `ms` (the caller checks again). */
export async function waitFor(pred: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
}

/** Where the in-between proxy listens: another loopback address, so it can take the site's very port numbers. */
export const BETWEEN = '127.0.0.2';

export interface InBetween {
  /** the address to publish for the site ("127.0.0.2:tcpPort") */
  address: string;
  datagrams: () => number;
  /** datagrams in which `marker` was seen in the clear */
  plaintext: () => number;
  close(): Promise<void>;
}

/**
 * A proxy between two sites, on BETWEEN: TCP (the connection phase) to the
 * site's TCP port, and UDP on the site's UDP port number, since the channel
 * sends its datagrams to the port the ACCEPT names, at the host it connected
 * to. It looks into every datagram for `marker`.
 */
export async function inBetween(tcpPort: number, udpPort: number, marker: string): Promise<InBetween> {
  const needle = Buffer.from(marker, 'latin1');
  let datagrams = 0;
  let plaintext = 0;
  const conns = new Set<{ destroy(): void }>();
  const tcp = createTcp((down) => {
    const up = tcpConnect(tcpPort, LOOP);
    conns.add(up);
    conns.add(down);
    down.pipe(up).pipe(down);
    down.on('error', () => up.destroy());
    up.on('error', () => down.destroy());
  });
  tcp.listen(tcpPort, BETWEEN);
  await once(tcp, 'listening');
  const front = createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
  await new Promise<void>((r) => front.bind(udpPort, BETWEEN, () => r()));
  const uplinks = new Map<string, Socket>();
  const look = (m: Buffer) => {
    datagrams++;
    if (m.includes(needle)) plaintext++;
  };
  front.on('message', (m: Buffer, from: RemoteInfo) => {
    look(m);
    const key = `${from.address}:${from.port}`;
    let up = uplinks.get(key);
    if (up === undefined) {
      const s = createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
      s.on('message', (back: Buffer) => {
        look(back);
        front.send(back, from.port, from.address);
      });
      s.connect(udpPort, LOOP);
      uplinks.set(key, (up = s));
      s.once('connect', () => s.send(m));
      return;
    }
    try {
      up.send(m);
    } catch {
      // not connected yet: dropped, as a network would
    }
  });
  return {
    address: `${BETWEEN}:${tcpPort}`,
    datagrams: () => datagrams,
    plaintext: () => plaintext,
    async close() {
      for (const s of uplinks.values()) s.close();
      for (const c of conns) c.destroy();
      await closeSocket(front);
      await new Promise<void>((r) => tcp.close(() => r()));
    },
  };
}
