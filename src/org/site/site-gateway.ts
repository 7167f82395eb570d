// A site gateway (`insel site run`): today's Gateway with the site's
// identity, grown into an organization member: relays by service name
// (requests.ts), membership at HQ (membership.ts), and HQ's events applied:
//   revoked: the new CRL is written to the identity dir and the gateway
//            reloads (sessions of revoked certificates are cut by its reload
//            path), then every relay of a listed user or site is cut with
//            HQ's reason, and sessions to a listed site are dropped
//   trust:   the new trust bundle (CA rollover) is written and reloaded;
//            open sessions stay (the old root is still in the bundle)
import { dirname, join } from 'node:path';
import { Gateway, type ConnectionHandler } from '../../gateway/gateway.js';
import type { Logger } from '../../gateway/conn-log.js';
import { readIdentityFiles } from '../../config/identity.js';
import { formatHostPort } from '../../net/host-port.js';
import { PUBLIC_MODE, writeFileAtomic } from '../../pki/store.js';
import type { IdentityPem } from '../../pki/profile.js';
import type { HqApi, OrgEventMessage } from '../wire/hq-api.js';
import type { SiteConfig } from './config.js';
import type { SiteContext } from './context.js';
import { Membership } from './membership.js';
import { SitePeers } from './peers.js';
import { Relays } from './relays.js';
import { siteRequest } from './requests.js';
import { renewOntoNewestRoot } from './renew.js';
import { enrollForwarder } from './enroll-forward.js';
import { ALPN_ENROLL } from '../wire/constants.js';
import { parseHostPort } from '../../net/host-port.js';
import { SiteUdp } from './udp-site.js';

export interface SiteGatewayOptions {
  config: SiteConfig;
  log: Logger;
  /** the link to HQ (hq-link.ts connectHq, or a test's); the caller closes it after close() */
  hq: HqApi;
  /** more ALPN protocols on the TLS port (insel-enroll/1 is the site's own) */
  protocols?: [string, ConnectionHandler][];
  /** HQ's events after the site applied them (revocations, calls) */
  onEvent?: (e: OrgEventMessage) => void;
  /** the site's SecSockets UDP address other sites use (UDP services, calls), registered with HQ */
  udp?: () => string | undefined;
}

export class SiteGateway implements SiteContext {
  readonly relays: Relays;
  readonly peers: SitePeers;
  private pendingHq = 0;
  private identityPem: IdentityPem;
  private membership!: Membership;
  private gw!: Gateway;
  /** UDP services and calls (udp-site.ts), when site.toml has udp_listen */
  private udp: SiteUdp | undefined;

  private constructor(
    public config: SiteConfig,
    readonly hq: HqApi,
    readonly log: Logger,
  ) {
    this.identityPem = readIdentityFiles(config.gateway.identity, config.file);
    this.relays = new Relays(() => this.config.relayLimits.relaysPerUser);
    this.peers = new SitePeers(() => this.identityPem, () => this.config.relayLimits.siteSessions, log, config.gateway.connectTimeoutMs);
  }

  get name(): string {
    return this.config.name;
  }

  static async start(o: SiteGatewayOptions): Promise<SiteGateway> {
    const site = new SiteGateway(o.config, o.hq, o.log);
    if (o.config.gateway.udpListen !== undefined) {
      site.udp = new SiteUdp({
        site: site.name,
        hq: o.hq,
        identity: () => site.identityPem,
        service: (name) => site.config.services.find((s) => s.name === name),
        localCheck: (user, service, at) => {
          const d = site.config.serviceRules.check(user, service, at);
          return site.revoked(user.serial) ?? (d.allow ? undefined : d.reason);
        },
        log: o.log,
      });
    }
    site.gw = await Gateway.start(o.config.gateway, o.log, {
      request: (ctx, session, stream, headers) => site.udp?.request(session.identity, stream, headers) === true || siteRequest(site, ctx, session, stream, headers),
      ...(site.udp === undefined ? {} : { udpService: site.udp.openService }),
      // Users enroll at their site (insel login): forwarded to HQ.
      protocols: [enrollForwarder(o.hq, o.log), ...(o.protocols ?? [])],
      open: [ALPN_ENROLL],
    });
    site.membership = new Membership({
      hq: o.hq,
      log: o.log,
      registration: () => {
        const udp = o.udp?.() ?? site.udpAddress;
        return { site: site.name, public: site.publicAddress, ...(udp === undefined ? {} : { udp }), services: site.config.services.map(({ name, proto, groups }) => ({ name, proto, groups })) };
      },
      onRegistered: (r) => site.applyPki(r.crl, r.ca),
      onEvent: (e) => {
        site.onEvent(e);
        site.udp?.onEvent(e);
        o.onEvent?.(e);
      },
    });
    await site.membership.register();
    o.log.info({ site: site.name, listen: site.gw.listenAddress, public: site.publicAddress, services: o.config.services.map((s) => s.name) }, 'site gateway listening');
    return site;
  }

  /** The underlying gateway (stats, port). */
  get gateway(): Gateway {
    return this.gw;
  }

  get port(): number {
    return this.gw.port;
  }

  /** What other sites dial: site.toml's public, else the listen address with the bound port. */
  get publicAddress(): string {
    return this.config.public ?? formatHostPort(this.config.gateway.listen.host, this.gw.port);
  }

  /** What other sites dial for UDP relays: the public host with the SecSockets UDP port (udp_listen), if any. */
  get udpAddress(): string | undefined {
    const port = this.gw.udpChannelTcpPort;
    return port === undefined ? undefined : formatHostPort(parseHostPort(this.publicAddress, 'public').host, port);
  }

  get registered(): boolean {
    return this.membership.registered;
  }

  revoked(serial: string): string | undefined {
    for (const c of this.gw.trust.crls) {
      const r = c.revoked.get(serial);
      if (r !== undefined) return `certificate ${serial} is revoked (${r.reason})`;
    }
    return undefined;
  }

  waitOnHq(): (() => void) | undefined {
    if (this.pendingHq >= this.config.relayLimits.pendingAuthorizations) return undefined;
    this.pendingHq++;
    let done = false;
    return () => {
      if (!done) this.pendingHq--;
      done = true;
    };
  }

  /** Swaps in a reloaded site.toml (SIGHUP): policy, rules, limits; services changed are registered again. */
  reload(config: SiteConfig): void {
    const services = JSON.stringify(this.config.services);
    this.config = config;
    this.gw.reload(config.gateway);
    this.identityPem = readIdentityFiles(config.gateway.identity, config.file);
    if (JSON.stringify(config.services) !== services) void this.membership.register();
  }

  async close(): Promise<void> {
    this.membership.close();
    this.relays.cutAll(`site gateway ${this.name} is shutting down`);
    this.peers.dropAll('shutting down');
    await this.udp?.close();
    await this.gw.close();
  }

  private onEvent(e: OrgEventMessage): void {
    if (e.kind === 'revoked') {
      this.applyPki(e.crl, undefined);
      const why = `revoked by HQ${e.reason ? `: ${e.reason}` : ''}`;
      const cut = this.relays.cutRevoked(e.names, e.serials, why);
      for (const n of e.names) if (n.role === 'site') this.peers.drop(n.name, why);
      this.log.warn({ names: e.names.map((n) => `${n.role}:${n.name}`), serials: e.serials.length, relays: cut }, 'revocation from HQ applied');
    } else if (e.kind === 'trust') {
      this.applyPki(undefined, e.ca);
      this.log.info({}, 'trust bundle from HQ applied');
    }
  }

  /**
   * Moves our certificate onto the newest root (renew.ts) and presents it to
   * new connections; true if it changed. Not done on the trust event itself:
   * users take the new root from us on their next session (GET
   * /insel/v1/ca), and one whose ca.pem holds only the old root would refuse
   * the new certificate, so the admin decides when (before retiring the old
   * root).
   */
  async renewCertificate(): Promise<boolean> {
    const renewed = await renewOntoNewestRoot(this.hq, this.identityPem, this.name);
    if (renewed === undefined) return false;
    writeFileAtomic(this.config.gateway.identity.certFile, renewed.cert, { mode: PUBLIC_MODE, force: true });
    this.applyPki(undefined, renewed.ca, true);
    this.log.info({}, 'site certificate renewed onto the newest root');
    return true;
  }

  /** Writes a changed CRL or trust bundle into the identity files and reloads the gateway with them (`cert`: the certificate file changed too). */
  private applyPki(crl: string | undefined, ca: string | undefined, cert = false): void {
    const id = this.config.gateway.identity;
    const changedCrl = crl !== undefined && crl !== '' && crl !== this.identityPem.crl;
    const changedCa = ca !== undefined && ca !== '' && ca !== this.identityPem.ca;
    if (!changedCrl && !changedCa && !cert) return;
    if (changedCrl) {
      const crlFile = id.crlFile ?? join(dirname(id.certFile), 'crl.pem');
      writeFileAtomic(crlFile, crl, { mode: PUBLIC_MODE, force: true });
      if (id.crlFile === undefined) this.config = { ...this.config, gateway: { ...this.config.gateway, identity: { ...id, crlFile } } };
    }
    if (changedCa) writeFileAtomic(id.caFile, ca, { mode: PUBLIC_MODE, force: true });
    this.identityPem = readIdentityFiles(this.config.gateway.identity, this.config.file);
    this.gw.reload(this.config.gateway);
  }
}
