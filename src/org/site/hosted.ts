// Hosted SAux-C: for users on the LAN who cannot run insel, a user asks its
// site gateway to listen there for a service (POST /insel/v1/listen with
// insel-service: svc@site and insel-bind: [bind:]port). The gateway checks
// the user as for a relay (its site, [[allow_service]]) and the bind address
// as for a remote forward ([[allow]] with action = "listen"); then each LAN
// connection is one relay of that user (HQ authorizes each, with its groups)
// to the service's site. The listener lives as long as the request's stream:
// the user's `insel open --on-gateway` ending closes it.
import { createServer, type Socket } from 'node:net';
import { authorize } from '../../gateway/authorize.js';
import { logDenied, logEnd, type ConnFacts } from '../../gateway/conn-log.js';
import { holding, refuse, track, type GatewayContext } from '../../gateway/forward-requests.js';
import type { GatewaySession } from '../../gateway/session.js';
import { join } from '../../forward/join.js';
import { H_BIND, H_BOUND } from '../../forward/protocol.js';
import { MuxCode, type MuxHeaders, type MuxStream } from '../../mux/index.js';
import { formatHostPort, parseBindPort } from '../../net/host-port.js';
import type { Identity } from '../../pki/identity.js';
import type { SiteContext } from './context.js';
import { H_SERVICE } from './protocol.js';
import { authorizeRelay, farRequest, openFar } from './relay-out.js';
import { parseServiceName } from './service-rules.js';

export function hostedListen(site: SiteContext, ctx: GatewayContext, session: GatewaySession, stream: MuxStream, headers: MuxHeaders): void {
  holding(ctx, session, 'listeners', stream, { to: `listen ${headers[H_BIND] ?? ''} for ${headers[H_SERVICE] ?? ''}`, kind: 'remote' }, () => listen(site, ctx, session, stream, headers));
}

async function listen(site: SiteContext, ctx: GatewayContext, session: GatewaySession, stream: MuxStream, headers: MuxHeaders): Promise<void> {
  const user = session.identity;
  const asked = headers[H_SERVICE] ?? '';
  const facts: ConnFacts = { identity: user, from: session.peer, to: `listen ${headers[H_BIND] ?? ''} for ${asked}`, kind: 'remote', started: Date.now() };
  const deny = (status: number, code: string, reason: string) => {
    logDenied(site.log, facts, code, reason);
    refuse(stream, status, code, reason);
  };
  if (user.role !== 'user' || user.issuer !== undefined || user.site !== site.name) return deny(403, 'INSEL_ORG_NOT_YOUR_SITE', `site ${site.name} hosts services for its own users only`);
  const target = parseServiceName(asked);
  if (target === undefined) return deny(400, 'INSEL_FORWARD_SPEC', `insel-service must be svc@site, e.g. web@branch`);
  const rules = site.config.serviceRules.check(user, target.service, target.site);
  if (!rules.allow) return deny(403, 'INSEL_POLICY_DENIED', rules.reason);
  let bind: { bind: string; port: number };
  try {
    bind = parseBindPort(headers[H_BIND] ?? '', 'LAN listener', '0.0.0.0');
  } catch (err) {
    return deny(400, 'INSEL_FORWARD_SPEC', (err as Error).message);
  }
  const v = await authorize(ctx.authz(), user, 'listen', 'tcp', bind.bind, bind.port);
  if (!v.allow) return deny(v.status, v.code, `${v.reason} (a hosted listener needs an [[allow]] rule with action = "listen")`);
  const server = createServer({ allowHalfOpen: true, noDelay: true });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(bind.port, v.address, () => resolve());
    });
  } catch (err) {
    return deny(409, 'INSEL_LISTEN_FAILED', `site ${site.name} cannot listen on ${formatHostPort(v.address, bind.port)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  server.on('error', () => undefined);
  const a = server.address() as { address: string; port: number };
  const bound = formatHostPort(a.address, a.port);
  if (stream.destroyed) return void server.close();
  session.listeners.add(server);
  stream.respond({ ':status': '200', [H_BOUND]: bound });
  site.log.info({ who: user.name, listen: bound, service: asked }, 'hosted listen');
  const open = new Set<Socket>();
  const active = track(session, { action: 'listen', proto: 'tcp', host: v.address, address: v.address, port: a.port }, (reason) => {
    server.close();
    for (const s of open) s.destroy();
    stream.reset(MuxCode.CUT, reason);
  });
  server.on('connection', (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    void relaySocket(site, user, asked, socket);
  });
  stream.resume();
  await new Promise<void>((resolve) => (stream.destroyed ? resolve() : stream.once('close', () => resolve())));
  server.close();
  session.listeners.delete(server);
  session.forwards.delete(active);
}

/** One LAN connection: a relay of `user` to `service`, refused by closing it (and logging why). */
async function relaySocket(site: SiteContext, user: Identity, service: string, socket: Socket): Promise<void> {
  socket.on('error', () => undefined);
  const from = formatHostPort(socket.remoteAddress ?? '?', socket.remotePort ?? 0);
  const facts: ConnFacts = { identity: user, from, to: service, kind: 'relay', started: Date.now() };
  const deny = (_status: number, code: string, reason: string) => {
    logDenied(site.log, facts, code, reason);
    socket.destroy();
  };
  const slot = site.relays.take(user.name);
  if (slot === undefined) return deny(429, 'INSEL_LIMIT', `${user.name} has too many relays open (relays.relays_per_user)`);
  try {
    const auth = await authorizeRelay(site, user, service, deny);
    if (auth === undefined) return;
    const far = await openFar(site, auth, farRequest(auth), deny);
    if (far === undefined) return;
    const link = join(far.pending.stream, socket, 'client');
    const untrack = site.relays.add({ user: user.name, serial: user.serial, sites: [site.name, auth.site.name], cut: (reason) => (far.pending.stream.reset(MuxCode.CUT, reason), link.cut(reason)) });
    const r = await link.done;
    untrack();
    logEnd(site.log, facts, r);
    site.hq.sessionEnd(auth.ticket, r.up, r.down).catch((err: Error) => site.log.warn({ service, reason: err.message }, 'session-end not recorded at HQ'));
  } finally {
    slot();
  }
}
