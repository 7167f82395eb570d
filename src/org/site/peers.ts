// Sessions to other sites' gateways: one insel/1 session per site, opened on
// the first relay there and shared by all of them (a relay is one stream),
// with the site's certificate. The peer must be role site with the name HQ
// gave for it. At most `limit` are held; a session that ends is forgotten
// and the next relay opens a new one.
import type { Logger } from '../../gateway/conn-log.js';
import { ForwardSession } from '../../forward/session.js';
import { formatHostPort, parseHostPort } from '../../net/host-port.js';
import type { IdentityPem } from '../../pki/profile.js';
import type { SiteAddress } from '../wire/hq-api.js';
import { SiteError } from './errors.js';

interface Held {
  public: string;
  session: Promise<ForwardSession>;
}

export class SitePeers {
  private readonly held = new Map<string, Held>();

  constructor(
    /** our identity, with the CA bundle and CRL as last received from HQ */
    private readonly identity: () => IdentityPem,
    private readonly limit: () => number,
    private readonly log: Logger,
    private readonly timeoutMs: number,
  ) {}

  get size(): number {
    return this.held.size;
  }

  /** The session to `site`'s gateway, opened if need be; SiteError or the session's ForwardError otherwise. */
  get(site: SiteAddress): Promise<ForwardSession> {
    const h = this.held.get(site.name);
    if (h !== undefined && h.public === site.public) return h.session;
    if (h !== undefined) this.drop(site.name, `site ${site.name} moved to ${site.public}`);
    if (this.held.size >= this.limit()) {
      return Promise.reject(new SiteError('INSEL_LIMIT', `this site gateway already holds sessions to ${this.held.size} sites (relays.site_sessions); try again later`));
    }
    const via = parseHostPort(site.public, `site ${site.name} public address`);
    const session = ForwardSession.open({
      via,
      identity: this.identity(),
      gatewayName: site.name,
      gatewayRoles: ['site'],
      timeoutMs: this.timeoutMs,
      warn: (line) => this.log.warn({ site: site.name, reason: line }, 'site session'),
    });
    const held: Held = { public: site.public, session };
    this.held.set(site.name, held);
    session.then(
      (s) => {
        this.log.info({ site: site.name, at: formatHostPort(via.host, via.port) }, 'site session');
        s.once('close', (reason: string) => {
          if (this.held.get(site.name) === held) this.held.delete(site.name);
          this.log.info({ site: site.name, reason }, 'site session ended');
        });
      },
      () => {
        if (this.held.get(site.name) === held) this.held.delete(site.name);
      },
    );
    return session;
  }

  /** Closes the session to `site` (its relays end with it). */
  drop(site: string, reason: string): void {
    const h = this.held.get(site);
    if (h === undefined) return;
    this.held.delete(site);
    this.log.info({ site, reason }, 'site session dropped');
    void h.session.then((s) => s.destroy(), () => undefined);
  }

  /** Drops every session, e.g. after the trust bundle or our CRL changed. */
  dropAll(reason: string): void {
    for (const site of [...this.held.keys()]) this.drop(site, reason);
  }
}
