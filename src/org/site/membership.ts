// The site's membership of the organization, over the HQ link: register
// (the site's public address and services; HQ answers with the current CRL
// and trust bundle) and HQ's events. The link heartbeats at HQ's interval,
// and after HQ or the connection restarts it reconnects and re-registers by
// itself (wire/hq-link.ts); a first register that fails (HQ down while the
// site starts) is retried here with backoff until HQ answers. Events pushed
// while the link was down are lost, so when a link that says whether it is
// connected (HqLink.connected) comes back, the site registers again and
// applies the CRL and trust bundle of that answer.
import type { Logger } from '../../gateway/conn-log.js';
import type { HqApi, OrgEventMessage, PublishedService } from '../wire/hq-api.js';

const RETRY_MIN_MS = 500;
/** how often a link's connected flag is looked at, to catch up after it reconnected */
const RECONNECT_CHECK_MS = 500;
const RETRY_MAX_MS = 30_000;

export interface MembershipOptions {
  hq: HqApi;
  log: Logger;
  /** what register sends, asked each time (the config may have been reloaded) */
  registration(): { site: string; public: string; udp?: string; services: PublishedService[] };
  /** the CRL and trust bundle HQ answered register with */
  onRegistered(r: { crl: string; ca: string }): void;
  onEvent(e: OrgEventMessage): void;
}

export class Membership {
  private timer: NodeJS.Timeout | undefined;
  private retryMs = RETRY_MIN_MS;
  private closed = false;
  private readonly unsubscribe: () => void;
  private readonly watch: NodeJS.Timeout | undefined;
  registered = false;

  constructor(private readonly o: MembershipOptions) {
    this.unsubscribe = o.hq.onEvent((e) => {
      try {
        o.onEvent(e);
      } catch (err) {
        o.log.error({ event: e.kind, reason: (err as Error).message }, 'HQ event not applied');
      }
    });
    const link = o.hq as Partial<{ connected: boolean }>;
    if (typeof link.connected === 'boolean') {
      let was = link.connected;
      this.watch = setInterval(() => {
        const now = link.connected === true;
        if (now && !was && this.registered) void this.register();
        was = now;
      }, RECONNECT_CHECK_MS);
      this.watch.unref();
    }
  }

  /** Registers now; resolves either way (a failure is retried in the background). */
  async register(): Promise<void> {
    clearTimeout(this.timer);
    const reg = this.o.registration();
    try {
      const r = await this.o.hq.register(reg);
      if (this.closed) return;
      this.registered = true;
      this.retryMs = RETRY_MIN_MS;
      this.o.log.info({ site: reg.site, public: reg.public, services: reg.services.length, heartbeatMs: r.heartbeatMs }, 'registered with HQ');
      this.o.onRegistered(r);
    } catch (err) {
      if (this.closed) return;
      this.registered = false;
      const wait = this.retryMs;
      this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
      this.o.log.warn({ reason: (err as Error).message, retryMs: wait }, 'cannot register with HQ; established relays keep working, new ones fail until it answers');
      this.schedule(wait, () => void this.register());
    }
  }

  private schedule(ms: number, fn: () => unknown): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void fn(), ms);
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    clearInterval(this.watch);
    this.unsubscribe();
  }
}
