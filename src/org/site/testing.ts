// Test helpers for site gateways: an org PKI (sites a, b, c; users of a and b),
// an in-test HQ (FakeHq: the HqApi contract, kept in memory, each site's link
// bound to that site), and a site gateway in this process with its logs.
// The end-to-end tests with the real HQ live beside src/org/hq.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { initCa } from '../../pki/ca.js';
import { revoke } from '../../pki/crl.js';
import { exportProfile } from '../../pki/export.js';
import { issueCert } from '../../pki/issue.js';
import { pkiPaths } from '../../pki/store.js';
import { InselError } from '../../errors.js';
import type { Authorization, HqApi, OrgEventMessage, OrgUser, PublishedService, ServiceInfo, SiteAddress, TicketInfo } from '../wire/hq-api.js';
import { siteConfigFromText } from './config.js';
import { SiteGateway } from './site-gateway.js';

/** Users: alice and frank (a, eng), dave (a, ops), carol (b, eng); eve is a server cert (not a user). */
export const ORG_USERS: { name: string; site: string; groups: string[] }[] = [
  { name: 'alice', site: 'a', groups: ['eng'] },
  { name: 'frank', site: 'a', groups: ['eng'] },
  { name: 'dave', site: 'a', groups: ['ops'] },
  { name: 'carol', site: 'b', groups: ['eng'] },
];

export interface OrgPki {
  dir: string;
  /** a profile dir (cert.pem, key.pem, ca.pem, crl.pem) for a name */
  profile(name: string): string;
  /** revokes `name` in the PKI and returns the new crl.pem (what HQ pushes) */
  revoke(name: string): Promise<string>;
  cleanup(): void;
}

export async function makeOrgPki(): Promise<OrgPki> {
  const dir = mkdtempSync(join(tmpdir(), 'insel-org-'));
  const pki = join(dir, 'pki');
  await initCa({ dir: pki, org: 'Org' });
  for (const site of ['a', 'b', 'c']) await issueCert({ dir: pki, role: 'site', name: site, hosts: ['127.0.0.1', 'localhost'] });
  for (const u of ORG_USERS) await issueCert({ dir: pki, role: 'user', name: u.name, site: u.site, groups: u.groups });
  await issueCert({ dir: pki, role: 'server', name: 'eve', hosts: ['127.0.0.1'] });
  const exported = new Set<string>();
  return {
    dir,
    profile(name) {
      const out = join(dir, 'profiles', name);
      if (!exported.has(name)) exportProfile({ dir: pki, name, out, force: true });
      exported.add(name);
      return out;
    },
    async revoke(name) {
      await revoke({ dir: pki, nameOrSerial: name, reason: 'keyCompromise' });
      return readFileSync(pkiPaths(pki).crl, 'utf8');
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

class HqDown extends InselError {
  constructor() {
    super('INSEL_HQ_UNAVAILABLE', 'HQ at 127.0.0.1:7443 is unreachable: connection refused (is HQ running?)');
  }
}

class Refused extends InselError {}

interface Ticket extends TicketInfo {
  target: string;
}

/** HQ as the HqApi contract says, in memory; `down` makes every call fail as an unreachable HQ does. */
export class FakeHq {
  down = false;
  readonly sites = new Map<string, { address: SiteAddress; services: PublishedService[] }>();
  private readonly tickets = new Map<string, Ticket>();
  private readonly listeners = new Set<(e: OrgEventMessage) => void>();
  readonly ended: { ticket: string; bytesIn: number; bytesOut: number }[] = [];

  /** The HqApi a site's link gives it. */
  link(site: string): HqApi {
    const call = <T>(fn: () => T): Promise<T> => (this.down ? Promise.reject(new HqDown()) : Promise.resolve().then(fn));
    return {
      register: (r) =>
        call(() => {
          this.sites.set(r.site, { address: { name: r.site, public: r.public }, services: r.services });
          return { crl: '', ca: '', heartbeatMs: 60_000 };
        }),
      heartbeat: () => call(() => undefined),
      authorize: (user, service) => call(() => this.authorize(site, user, service)),
      ticket: (t) => call(() => this.redeemTicket(site, t)),
      sessionEnd: (ticket, bytesIn, bytesOut) => call(() => void this.ended.push({ ticket, bytesIn, bytesOut })),
      services: (user) => call(() => this.visible(user)),
      userCode: () => call(() => ({ code: 'insel-test', expiresAt: new Date().toISOString() })),
      redeem: () =>
        call((): { cert: string; ca: string } => {
          throw new Refused('INSEL_CODE_UNKNOWN', 'no such code');
        }),
      onEvent: (fn) => {
        this.listeners.add(fn);
        return () => this.listeners.delete(fn);
      },
    };
  }

  push(e: OrgEventMessage): void {
    for (const fn of this.listeners) fn(e);
  }

  /** A ticket for `service` as HQ would issue it, to replay or forge with in attack tests. */
  issue(fromSite: string, user: OrgUser, service: string): string {
    return this.authorize(fromSite, user, service).ticket;
  }

  private visible(user: OrgUser): ServiceInfo[] {
    const out: ServiceInfo[] = [];
    for (const [site, s] of this.sites) for (const svc of s.services) if (svc.groups.some((g) => user.groups.includes(g))) out.push({ ...svc, site, online: true });
    return out;
  }

  private authorize(fromSite: string, user: OrgUser, service: string): Authorization {
    if (user.site !== fromSite) throw new Refused('INSEL_ORG_DENIED', `user ${user.name} is not of site ${fromSite}`);
    const [name, site] = service.split('@');
    const s = this.sites.get(site ?? '');
    const svc = s?.services.find((x) => x.name === name);
    if (s === undefined || svc === undefined) throw new Refused('INSEL_ORG_UNKNOWN_SERVICE', `HQ knows no service ${service}`);
    if (!svc.groups.some((g) => user.groups.includes(g))) throw new Refused('INSEL_ORG_DENIED', `HQ: ${user.name} (groups ${user.groups.join(', ') || 'none'}) is in none of ${service}'s groups (${svc.groups.join(', ')})`);
    const ticket = `${randomBytes(8).toString('hex')}.${randomBytes(16).toString('hex')}`;
    this.tickets.set(ticket, { user, service, fromSite, target: site! });
    return { ticket, site: s.address, service: { name: svc.name, proto: svc.proto } };
  }

  private redeemTicket(site: string, ticket: string): TicketInfo {
    const t = this.tickets.get(ticket);
    if (t === undefined) throw new Refused('INSEL_ORG_TICKET', 'HQ: unknown or used ticket');
    this.tickets.delete(ticket);
    if (t.target !== site) throw new Refused('INSEL_ORG_TICKET', `HQ: the ticket is for site ${t.target}`);
    return { user: t.user, service: t.service, fromSite: t.fromSite };
  }
}

export interface TestSite {
  site: SiteGateway;
  dir: string;
  logs: Record<string, unknown>[];
  close(): Promise<void>;
}

/** A site gateway in this process: DIR with site.toml (`extra` TOML appended) and the site's identity copied from the PKI. */
export async function startSite(pki: OrgPki, name: string, hq: FakeHq, extra: string, port = 0): Promise<TestSite> {
  const dir = join(pki.dir, `site-${name}-${Date.now()}-${Math.random().toString(36).slice(2, 6)}`);
  mkdirSync(dir, { recursive: true });
  rmSync(join(dir, 'identity'), { recursive: true, force: true });
  for (const f of ['cert.pem', 'key.pem', 'ca.pem', 'crl.pem']) {
    mkdirSync(join(dir, 'identity'), { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, 'identity', f), readFileSync(join(pki.profile(name), f)), { mode: f === 'key.pem' ? 0o600 : 0o644 });
  }
  const text = `name = "${name}"\nhq = "127.0.0.1:7443"\nlisten = "127.0.0.1:${port}"\nconnect_timeout = "3s"\n${extra}\n`;
  writeFileSync(join(dir, 'site.toml'), text);
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const site = await SiteGateway.start({ config: siteConfigFromText(text, join(dir, 'site.toml')), log: pino({ level: 'info' }, sink), hq: hq.link(name) });
  return { site, dir, logs, close: () => site.close() };
}
