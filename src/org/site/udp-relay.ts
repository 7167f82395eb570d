// UDP services across sites (docs/PROTOCOL.md §7.4): the site gateway's
// opener for flows that name a service (OPEN_SERVICE), plugged into its
// UdpGateway as `openService`.
//
//   user ──OPEN_SERVICE "rtp@b"──▶ site A: local rules, HQ authorize → ticket
//        ──OPEN_SERVICE "rtp" + ticket (site channel, UdpPeers)──▶ site B:
//        HQ claims the ticket (single use, bound to B, from A), B's local
//        rules, B's own config names host:port → a connected socket.
//
// Calls (src/org/call) ride the same path with the service "call:<id>": the
// callee's site is the meeting point where the two legs are joined.
// Bounds: flows per user (across both ends), flows per peer channel
// (UdpPeers), the UdpGateway's per-channel and per-identity limits.
import type { Identity } from '../../pki/identity.js';
import type { FlowLog } from '../../udpflow/gateway.js';
import { socketTarget, type FlowTarget, type ServiceOpener, type TargetEvents, type TargetVerdict } from '../../udpflow/target.js';
import type { HqApi, OrgUser, TicketInfo } from '../wire/hq-api.js';
import type { UdpPeers } from './udp-peers.js';

/** A service of this site's config (site.toml [[service]]): where the relay sends, never what the request says. */
export interface LocalService {
  name: string;
  proto: 'tcp' | 'udp';
  host: string;
  port: number;
}

/** The call legs at this site (src/org/call/site-calls.ts). */
export interface CallLegs {
  /** whether `user` (of this site) is the callee of `callId` here: then its flow is the answer, joined here */
  isCallee(callId: string, user: OrgUser): boolean;
  callee(callId: string, user: OrgUser, events: TargetEvents): TargetVerdict;
  /** the caller's leg, arriving with a ticket HQ issued for it */
  caller(callId: string, user: OrgUser, fromSite: string, events: TargetEvents): TargetVerdict;
}

export interface UdpRelayOptions {
  site: string;
  hq: HqApi;
  peers: UdpPeers;
  /** this site's services, from its current config */
  service(name: string): LocalService | undefined;
  /** this site's local rules ([[allow_service]], ServiceRules.check) for `user` asking for `service` at `site`; a string is a refusal */
  localCheck(user: Identity, service: string, site: string): string | undefined;
  calls?: CallLegs;
  log: FlowLog;
  /** service flows one user may hold at this site (as requester or at the target); default 64 */
  maxFlowsPerUser?: number;
}

export const CALL_PREFIX = 'call:';
export const DEFAULT_FLOWS_PER_USER = 64;

interface Held {
  readonly events: TargetEvents;
}

export class UdpRelay {
  /** open service flows by user name (unique in the organization), for the per-user bound and cuts */
  private readonly held = new Map<string, Set<Held>>();
  private readonly maxPerUser: number;

  constructor(private readonly opts: UdpRelayOptions) {
    this.maxPerUser = opts.maxFlowsPerUser ?? DEFAULT_FLOWS_PER_USER;
  }

  /** The UdpGateway hook. */
  readonly openService: ServiceOpener = (identity, service, ticket, events) =>
    ticket === '' ? this.fromUser(identity, service, events) : this.fromSite(identity, service, ticket, events);

  /** Ends every service flow of user `name` with `reason` (a revocation); returns how many. */
  cutUser(name: string, reason: string): number {
    const set = this.held.get(name);
    if (set === undefined) return 0;
    const all = [...set];
    for (const h of all) h.events.ended(reason);
    return all.length;
  }

  flows(): number {
    let n = 0;
    for (const s of this.held.values()) n += s.size;
    return n;
  }

  /** A user of this site asks for "svc@site" or "call:<id>". */
  private async fromUser(identity: Identity, service: string, events: TargetEvents): Promise<TargetVerdict> {
    const { site } = this.opts;
    if (identity.role !== 'user' || identity.site !== site) return refuse(`only users of site ${site} open services here`);
    const user: OrgUser = { name: identity.name, site, groups: identity.groups, serial: identity.serial };
    const callId = callOf(service);
    if (callId !== undefined && this.opts.calls?.isCallee(callId, user)) {
      return this.holding(user, events, (ev) => this.opts.calls!.callee(callId, user, ev));
    }
    if (callId === undefined) {
      const at = service.lastIndexOf('@');
      if (at < 1) return refuse(`${JSON.stringify(service)} is not a service: use svc@site`);
      const why = this.opts.localCheck(identity, service.slice(0, at), service.slice(at + 1));
      if (why !== undefined) return refuse(why);
    }
    return this.holding(user, events, async (ev) => {
      let auth;
      try {
        auth = await this.opts.hq.authorize(user, service);
      } catch (err) {
        return refuse((err as Error).message);
      }
      if (auth.service.proto !== 'udp') return refuse(`${service} is a ${auth.service.proto} service: open it with insel open (TCP), not as UDP`);
      if (auth.site.name !== site) return this.opts.peers.open(auth.site, auth.service.name, auth.ticket, ev);
      const info = await this.claim(auth.ticket, auth.service.name, site, site);
      return typeof info === 'string' ? refuse(info) : this.open(info, identity.org, auth.ticket, auth.service.name, site, ev);
    });
  }

  /** Another site relays a flow for one of its users, with HQ's ticket. */
  private async fromSite(identity: Identity, service: string, ticket: string, events: TargetEvents): Promise<TargetVerdict> {
    if (identity.role !== 'site') return refuse('only sites relay with a ticket');
    const info = await this.claim(ticket, service, identity.name, identity.name);
    if (typeof info === 'string') return refuse(info);
    return this.holding(info.user, events, (ev) => this.open(info, identity.org, ticket, service, identity.name, ev));
  }

  /** Claims the ticket with HQ (single use, bound to this site) and checks it against who relays it; a string is a refusal. */
  private async claim(ticket: string, service: string, fromSite: string, who: string): Promise<TicketInfo | string> {
    let info;
    try {
      info = await this.opts.hq.ticket(ticket);
    } catch (err) {
      return `ticket refused: ${(err as Error).message}`;
    }
    const { site } = this.opts;
    if (info.fromSite !== fromSite || info.user.site !== fromSite) return `the ticket was issued for relays from site ${info.fromSite} (a user of site ${info.user.site}), not ${who}`;
    if (bareName(info.service, site) !== service) return `the ticket is for ${info.service}, not ${service}@${site}`;
    return info;
  }

  /** The claimed flow's target: the call's meeting point, or the service's host:port from this site's config. */
  private async open(info: TicketInfo, org: string, ticket: string, service: string, fromSite: string, ev: TargetEvents): Promise<TargetVerdict> {
    const { site } = this.opts;
    const callId = callOf(service);
    if (callId !== undefined) {
      if (this.opts.calls === undefined) return refuse(`site ${site} takes no calls`);
      return this.opts.calls.caller(callId, info.user, fromSite, ev);
    }
    const u = info.user;
    const why = this.opts.localCheck({ org, role: 'user', name: u.name, site: u.site, groups: u.groups, serial: u.serial }, service, site);
    if (why !== undefined) return refuse(why);
    const svc = this.opts.service(service);
    if (svc === undefined) return refuse(`site ${site} has no service ${service}`);
    if (svc.proto !== 'udp') return refuse(`${service}@${site} is a ${svc.proto} service, not udp`);
    const sent = { up: 0, down: 0 };
    let target: FlowTarget;
    try {
      target = await socketTarget(svc.host, svc.port, { ...ev, message: (d) => ((sent.down += d.length), ev.message(d)) });
    } catch (err) {
      void this.opts.hq.sessionEnd(ticket, 0, 0).catch(() => undefined);
      return refuse(`cannot reach ${service}@${site}: ${(err as Error).message}`);
    }
    return {
      allow: true,
      address: `${svc.host}:${svc.port}`,
      target: {
        send: (d) => ((sent.up += d.length), target.send(d)),
        close: () => {
          target.close();
          void this.opts.hq.sessionEnd(ticket, sent.up, sent.down).catch(() => undefined);
        },
      },
    };
  }

  /**
   * Runs `open` holding one of `user`'s flows: refused over the bound; the
   * flow is released when its target closes or the open is refused.
   */
  private async holding(user: OrgUser, events: TargetEvents, open: (ev: TargetEvents) => TargetVerdict | Promise<TargetVerdict>): Promise<TargetVerdict> {
    const key = user.name;
    let set = this.held.get(key);
    if (set === undefined) this.held.set(key, (set = new Set()));
    if (set.size >= this.maxPerUser) return refuse(`${user.name}@${user.site} holds too many UDP relays at site ${this.opts.site} (limit ${this.maxPerUser})`);
    const h: Held = { events };
    set.add(h);
    const release = () => {
      set.delete(h);
      if (set.size === 0 && this.held.get(key) === set) this.held.delete(key);
    };
    let v: TargetVerdict;
    try {
      v = await open(events);
    } catch (err) {
      v = refuse((err as Error).message);
    }
    if (!v.allow) {
      release();
      return v;
    }
    const target = v.target;
    return { ...v, target: { send: (d) => target.send(d), close: () => (release(), target.close()) } };
  }
}

function refuse(reason: string): TargetVerdict {
  return { allow: false, reason };
}

/** The call id of "call:<id>", or undefined for a service. */
export function callOf(service: string): string | undefined {
  return service.startsWith(CALL_PREFIX) ? service.slice(CALL_PREFIX.length) : undefined;
}

/** "svc@site" → "svc" when site is ours; a name without a site stays as is. */
function bareName(service: string, site: string): string | undefined {
  const at = service.lastIndexOf('@');
  if (at < 0) return service;
  return service.slice(at + 1) === site ? service.slice(0, at) : undefined;
}
