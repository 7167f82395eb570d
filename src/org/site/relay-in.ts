// SAux-S at the service's site: another site's gateway asks for one of our
// services (CONNECT with insel-service: svc and insel-ticket). Pipeline:
//   1. the peer is a site gateway (role site, issued by the org root)
//   2. HQ redeems the ticket (single use, bound to this site): the only
//      source of who the user is; it must be for this service and come
//      from the presenting site, for a user of that site
//   3. the service is in OUR config; our [[allow_service]] rules for that user
//   4. dial the host:port of our config (never the request's), and splice
//      (serveConnect: FTP control connections get the gateway's watch)
import { isIP } from 'node:net';
import { logDenied, type ConnFacts } from '../../gateway/conn-log.js';
import { refuse, serveConnect, type GatewayContext } from '../../gateway/forward-requests.js';
import type { GatewaySession } from '../../gateway/session.js';
import { H_FTP } from '../../forward/protocol.js';
import type { MuxHeaders, MuxStream } from '../../mux/index.js';
import { quote } from '../../errors.js';
import type { Identity } from '../../pki/identity.js';
import type { TicketInfo } from '../wire/hq-api.js';
import type { SiteContext } from './context.js';
import { hqRefusal } from './hq-refusal.js';
import { H_SERVICE, H_TICKET } from './protocol.js';

export async function relayIn(site: SiteContext, ctx: GatewayContext, session: GatewaySession, stream: MuxStream, headers: MuxHeaders): Promise<void> {
  const since = ctx.generation;
  const peer = session.identity;
  const svc = headers[H_SERVICE] ?? '';
  const facts: ConnFacts = { identity: peer, from: session.peer, to: `${svc}@${site.name}`, kind: 'relay-in', started: Date.now() };
  const deny = (status: number, code: string, reason: string) => {
    logDenied(site.log, facts, code, reason);
    refuse(stream, status, code, reason);
  };
  if (peer.role !== 'site' || peer.issuer !== undefined) return deny(403, 'INSEL_ORG_NOT_A_SITE', `only site gateways present relay tickets; you are ${peer.role} ${peer.name}`);
  const info = await redeem(site, headers[H_TICKET] ?? '', deny);
  if (info === undefined) return;
  const user: Identity = { org: peer.org, role: 'user', name: info.user.name, site: info.user.site, groups: info.user.groups, serial: info.user.serial };
  facts.identity = user;
  facts.from = `${session.peer} (site ${peer.name})`;
  if (info.fromSite !== peer.name || info.user.site !== peer.name) return deny(403, 'INSEL_ORG_TICKET', `the ticket is for a relay from site ${info.fromSite} (user of site ${info.user.site}), not from site ${peer.name}`);
  if (info.service !== `${svc}@${site.name}`) return deny(403, 'INSEL_ORG_TICKET', `the ticket is for ${quote(info.service)}, not ${quote(`${svc}@${site.name}`)}`);
  const service = site.config.services.find((s) => s.name === svc && s.proto === 'tcp');
  if (service === undefined) return deny(404, 'INSEL_ORG_UNKNOWN_SERVICE', `site ${site.name} has no TCP service ${quote(svc)} in its config`);
  // The user's certificate is not ours to see: its serial (from HQ) against our CRLs, then our rules.
  const why = () => {
    const d = site.config.serviceRules.check(user, svc, site.name);
    return site.revoked(user.serial) ?? (d.allow ? undefined : d.reason);
  };
  const refused = why();
  if (refused !== undefined) return deny(403, 'INSEL_POLICY_DENIED', refused);
  let address = service.host;
  if (isIP(service.host) === 0) {
    try {
      [address] = await ctx.authz().resolver.resolve(service.host);
    } catch (err) {
      return deny(502, 'INSEL_UNKNOWN_HOST', `site ${site.name} cannot resolve its service ${svc}'s host ${service.host}: ${(err as Error).message}`);
    }
  }
  let cut: ((reason: string) => void) | undefined;
  const untrack = site.relays.add({ user: user.name, serial: user.serial, sites: [peer.name, site.name], cut: (reason) => cut?.(reason) });
  try {
    const ftp = headers[H_FTP] === 'control' ? 'control' : undefined;
    await serveConnect(ctx, session, user, stream, {
      ftp,
      target: { host: service.host, port: service.port },
      address: address!,
      since,
      facts,
      recheck: () => {
        const now = why();
        return now === undefined ? undefined : `policy reload: ${now}`;
      },
      onOpen: (c) => (cut = c),
    });
  } finally {
    untrack();
  }
}

async function redeem(site: SiteContext, ticket: string, deny: (status: number, code: string, reason: string) => void): Promise<TicketInfo | undefined> {
  if (ticket === '') return void deny(403, 'INSEL_ORG_TICKET', 'a relay from another site needs HQ\'s ticket (insel-ticket)');
  const release = site.waitOnHq();
  if (release === undefined) return void deny(503, 'INSEL_LIMIT', `site ${site.name} has too many requests waiting for HQ; try again shortly`);
  try {
    return await site.hq.ticket(ticket);
  } catch (err) {
    const r = hqRefusal(err);
    return void deny(r.status, r.code, r.reason);
  } finally {
    release();
  }
}
