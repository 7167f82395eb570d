// SAux-C at the user's site: a user of this site asks for "svc@site-b"
// (CONNECT with insel-service). Pipeline:
//   1. who: role user, issued by the org root, of THIS site (the certificate says so)
//   2. this site's [[allow_service]] rules
//   3. HQ authorize: groups, the service, where site-b is; a single-use ticket
//   4. a stream over the (shared) session to site-b's gateway: CONNECT with
//      insel-service: svc and insel-ticket; site-b's refusal comes back as ours
//   5. 200 to the user, then the two streams joined until either ends
//   6. session-end to HQ with the byte counts
// Every refusal carries its code and reason; HQ unreachable is named as such.
import { logEnd, type ConnFacts } from '../../gateway/conn-log.js';
import { refuse, track, type GatewayContext } from '../../gateway/forward-requests.js';
import type { GatewaySession } from '../../gateway/session.js';
import type { ForwardSession, PendingStream } from '../../forward/session.js';
import { H_FTP, H_STREAM, H_TARGET } from '../../forward/protocol.js';
import type { MuxHeaders, MuxStream } from '../../mux/index.js';
import { quote } from '../../errors.js';
import type { Authorization } from '../wire/hq-api.js';
import type { SiteContext } from './context.js';
import { hqRefusal } from './hq-refusal.js';
import { H_SERVICE, H_TICKET } from './protocol.js';
import { answerOf, denier, relayStreams, type Deny } from './relay-link.js';
import { addFtpRelay, removeFtpRelay } from './relay-ftp.js';
import { parseServiceName } from './service-rules.js';

export async function relayOut(site: SiteContext, ctx: GatewayContext, session: GatewaySession, stream: MuxStream, headers: MuxHeaders): Promise<void> {
  const since = ctx.generation;
  const user = session.identity;
  const asked = headers[H_SERVICE] ?? '';
  const facts: ConnFacts = { identity: user, from: session.peer, to: asked, kind: 'relay', started: Date.now() };
  const deny = denier(site, stream, facts);
  if (user.role !== 'user' || user.issuer !== undefined || user.site !== site.name) {
    const you = `${user.role} ${user.name}${user.site === undefined ? '' : ` of site ${user.site}`}`;
    return deny(403, 'INSEL_ORG_NOT_YOUR_SITE', `this is the gateway of site ${site.name}; it relays services for its own users only, and you are ${you}: use your own site's gateway`);
  }
  const target = parseServiceName(asked);
  if (target === undefined) return deny(400, 'INSEL_FORWARD_SPEC', `insel-service ${quote(asked)} is not a service: use svc@site, e.g. web@branch`);
  const local = site.config.serviceRules.check(user, target.service, target.site);
  if (!local.allow) return deny(403, 'INSEL_POLICY_DENIED', local.reason);
  const slot = site.relays.take(user.name);
  if (slot === undefined) return deny(429, 'INSEL_LIMIT', `you have ${site.config.relayLimits.relaysPerUser} relays open at site ${site.name} (relays.relays_per_user); close some first`);
  try {
    const auth = await authorizeRelay(site, user, asked, deny);
    if (auth === undefined) return;
    if (auth.service.proto !== 'tcp') return deny(400, 'INSEL_ORG_PROTO', `${asked} is a ${auth.service.proto} service; TCP relays carry TCP services only`);
    const ftp = headers[H_FTP] === 'control' ? 'control' : undefined;
    const far = await openFar(site, auth, { ...farRequest(auth), ...(ftp ? { [H_FTP]: ftp } : {}) }, deny);
    if (far === undefined) return;
    await join(site, { ctx, since }, session, stream, far, facts, {
      user: user.name,
      serial: user.serial,
      sites: [site.name, auth.site.name],
      recheck: () => {
        const d = site.config.serviceRules.check(user, target.service, target.site);
        return d.allow ? undefined : `policy reload: ${d.reason}`;
      },
      ...(ftp ? { ftp: true } : {}),
    });
    const r = far.result;
    site.hq.sessionEnd(auth.ticket, r?.up ?? 0, r?.down ?? 0).catch((err: Error) => site.log.warn({ service: asked, reason: err.message }, 'session-end not recorded at HQ'));
  } finally {
    slot();
  }
}

/** HQ's authorization of `user` for `service`, or undefined after denying with why not (HQ unreachable named). */
export async function authorizeRelay(site: SiteContext, user: GatewaySession['identity'], service: string, deny: Deny): Promise<Authorization | undefined> {
  const release = site.waitOnHq();
  if (release === undefined) return void deny(503, 'INSEL_LIMIT', `site ${site.name} has ${site.config.relayLimits.pendingAuthorizations} requests waiting for HQ (relays.pending_authorizations); try again shortly`);
  try {
    return await site.hq.authorize({ name: user.name, site: site.name, groups: user.groups, serial: user.serial }, service);
  } catch (err) {
    const r = hqRefusal(err);
    return void deny(r.status, r.code, r.reason);
  } finally {
    release();
  }
}

export interface Far {
  peer: ForwardSession;
  pending: PendingStream;
  headers: MuxHeaders;
  site: string;
  result?: { up: number; down: number };
}

/** What the user's site asks the service's site for: the service by its name there, with HQ's ticket. */
export function farRequest(auth: Authorization): MuxHeaders {
  return { ':method': 'CONNECT', [H_SERVICE]: auth.service.name, [H_TICKET]: auth.ticket };
}

/** The stream to the service's site, answered 200; or undefined after refusing the user with why not. */
export async function openFar(site: SiteContext, auth: Authorization, request: MuxHeaders, deny: Deny): Promise<Far | undefined> {
  let peer: ForwardSession;
  try {
    peer = await site.peers.get(auth.site);
  } catch (err) {
    return void deny(502, 'INSEL_ORG_SITE_UNREACHABLE', `site ${auth.site.name} at ${auth.site.public} cannot be reached: ${(err as Error).message}`);
  }
  let pending: PendingStream;
  try {
    pending = peer.open(request, false);
  } catch (err) {
    return void deny(502, 'INSEL_ORG_SITE_UNREACHABLE', `site ${auth.site.name}: ${(err as Error).message}`);
  }
  const headers = await answerOf(pending, `site ${auth.site.name}`, deny);
  return headers === undefined ? undefined : { peer, pending, headers, site: auth.site.name };
}

/** Answers the user 200 and joins the streams until the relay ends; tracked for reloads, revocations and the far session's end. */
async function join(
  site: SiteContext,
  at: { ctx: GatewayContext; since: number },
  session: GatewaySession,
  stream: MuxStream,
  far: Far,
  facts: ConnFacts,
  o: { user: string; serial: string; sites: [string, string]; recheck: () => string | undefined; ftp?: true },
): Promise<void> {
  const forward = { action: 'connect' as const, proto: 'tcp' as const, host: facts.to, address: far.site, port: 0, recheck: o.recheck };
  // A reload (a new CRL, new rules) while HQ or the far site answered: the new state decides.
  const late = at.ctx.refusedSince(at.since, session.tls, session.peer, session.identity, forward);
  if (stream.destroyed || late !== undefined) {
    far.pending.stream.destroy();
    if (late !== undefined) refuse(stream, 403, 'INSEL_POLICY_DENIED', late);
    return;
  }
  stream.respond({ ':status': '200', [H_STREAM]: String(stream.id), [H_TARGET]: far.headers[H_TARGET] ?? facts.to });
  facts.address = far.headers[H_TARGET] ?? '';
  const link = relayStreams(stream, far.pending.stream);
  const active = track(session, forward, (reason) => link.cut(reason));
  const untrack = site.relays.add({ user: o.user, serial: o.serial, sites: o.sites, cut: active.cut });
  const onFarClose = (reason: string) => link.cut(`the session with site ${far.site} ended: ${reason}`);
  far.peer.once('close', onFarClose);
  if (o.ftp) addFtpRelay(session, stream.id, { peer: far.peer, farControl: far.headers[H_STREAM] ?? '' });
  const r = await link.done;
  far.result = r;
  far.peer.off('close', onFarClose);
  session.forwards.delete(active);
  untrack();
  if (o.ftp) removeFtpRelay(session, stream.id);
  logEnd(site.log, facts, r);
}
