// Forward requests at the gateway, one handler per request kind, each
// registered with the session's request router (forwardRequests):
//   CONNECT host:port       a forwarded TCP connection
//   GET  /insel/v1/info     who the gateway sees, where UDP forwards go
//   POST /insel/v1/listen   a remote forward (-R) or an FTP active-mode port
//   POST /insel/v1/accept   takes one connection a remote listener received
//   GET  /insel/v1/crl      the gateway's crl.pem, for clients to refresh theirs
//   GET  /insel/v1/ca       the gateway's trust bundle, for clients to follow a CA rollover
// A request is a mux stream; its answer the REPLY headers. Every refusal
// carries its code and reason (insel-code, insel-reason): never a silent
// close. A reload cut resets the stream with CUT and the reason.
import { createServer } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { sameHost } from '../ftp/address.js';
import { MuxCode, type MuxHeaders, type MuxStream } from '../mux/index.js';
import { Router } from '../net/router.js';
import { authorize, type AuthorizeContext } from './authorize.js';
import { logDenied, logEnd, type ConnFacts, type Logger } from './conn-log.js';
import { dial, DialError, type DialCause } from './dial.js';
import { FtpWatch, MAX_ACTIVE_PER_CONTROL, MAX_ACTIVE_PER_SESSION, type ActivePort } from './ftp-watch.js';
import type { GatewayConfig } from './config.js';
import type { ActiveForward, GatewaySession } from './session.js';
import { join } from '../forward/join.js';
import type { IdentityLimits, LimitKind } from './limits.js';
import { H_BIND, H_BOUND, H_CAUSE, H_CODE, H_CONN, H_CONTROL, H_FTP, H_REASON, H_REFUSE, H_STREAM, H_TARGET, H_TO, MAX_REASON, PATH_ACCEPT, PATH_CA, PATH_CRL, PATH_INFO, PATH_LISTEN, requestKind } from '../forward/protocol.js';
import { formatHostPort, parseBindPort, parseHostPort } from '../net/host-port.js';
import { splice, type Splice } from '../forward/splice.js';
import { scopedName, type Identity } from '../pki/identity.js';
import type { Trust } from '../pki/trust.js';

export interface GatewayContext {
  readonly config: GatewayConfig;
  readonly log: Logger;
  /** see Gateway.udpChannelTcpPort */
  readonly udpChannelTcpPort: number | undefined;
  readonly limits: IdentityLimits;
  authz(): AuthorizeContext;
  /** crl.pem as the gateway read it (CA-signed: the client checks it, we only relay) */
  readonly crlPem: string | undefined;
  /** the roots the gateway trusts now (ca.pem as read): clients take it only if it keeps a root they hold (pki/bundle-refresh.ts) */
  readonly trust: Pick<Trust, 'caPem'>;
  /** Bumped by every reload: work begun under an older one is re-checked when it completes. */
  readonly generation: number;
  /**
   * Why `f` is refused now, if a reload came since `generation` (the request
   * was mid-authorize or mid-dial): the certificate under the current trust,
   * then the current policy. Undefined when it still passes or nothing changed.
   */
  refusedSince(generation: number, tls: TLSSocket, peer: string, identity: Identity, f: Omit<ActiveForward, 'cut'>): string | undefined;
}

/** Serves one request of a verified session. */
export type RequestHandler = (ctx: GatewayContext, session: GatewaySession, stream: MuxStream, headers: MuxHeaders) => void;

/** A pending remote connection not taken within this time is closed. */
const ACCEPT_TIMEOUT_MS = 10_000;
/** Connections a listener may hold waiting for the client to take them. */
const MAX_PENDING = 256;
/** An FTP active-mode listener nobody connected to is closed after this long. */
const ACTIVE_WAIT_MS = 30_000;

/**
 * Answers with the refusal and ends our side. Whatever the client sent
 * ahead (optimistic open) is read and dropped; the client closes its side
 * when it reads the refusal.
 */
export function refuse(stream: MuxStream, status: number, code: string, reason: string, cause?: DialCause): void {
  if (stream.destroyed || stream.replied) return;
  const headers = { ':status': String(status), [H_CODE]: code, [H_REASON]: reason.slice(0, MAX_REASON) };
  stream.respond(cause === undefined ? headers : { ...headers, [H_CAUSE]: cause }, { end: true });
  stream.resume();
}

/** The forward protocol's requests, by requestKind(). */
export const forwardRequests = new Router<RequestHandler>('forward request')
  .register('CONNECT', (ctx, session, stream, headers) =>
    holding(ctx, session, 'streams', stream, { to: headers[':authority'] ?? '', kind: 'connect' }, () => connectStream(ctx, session, session.identity, stream, headers)),
  )
  .register(`GET ${PATH_INFO}`, (ctx, session, stream) => infoStream(ctx, session.identity, stream))
  .register(`GET ${PATH_CRL}`, (ctx, _session, stream) => crlStream(ctx, stream))
  .register(`GET ${PATH_CA}`, (ctx, _session, stream) => pemStream(stream, ctx.trust.caPem))
  .register(`POST ${PATH_LISTEN}`, (ctx, session, stream, headers) =>
    holding(ctx, session, 'listeners', stream, { to: `listen ${headers[H_BIND] ?? ''}`, kind: 'remote' }, () => listenStream(ctx, session, session.identity, stream, headers)),
  )
  .register(`POST ${PATH_ACCEPT}`, (ctx, session, stream, headers) =>
    holding(ctx, session, 'streams', stream, { to: headers[H_TO] ?? 'the client', kind: 'remote' }, () => acceptStream(ctx, session, session.identity, stream, headers)),
  );

export function handleStream(ctx: GatewayContext, session: GatewaySession, stream: MuxStream, headers: MuxHeaders): void {
  stream.on('error', () => undefined); // a reset stream ends its own forward only
  const handler = forwardRequests.route(requestKind(headers));
  if (handler !== undefined) return handler(ctx, session, stream, headers);
  refuse(stream, 404, 'INSEL_NOT_FOUND', `the gateway has no ${String(headers[':method'])} ${String(headers[':path'] ?? headers[':authority'])}; insel forwards use CONNECT host:port`);
}

function infoStream(ctx: GatewayContext, identity: Identity, stream: MuxStream): void {
  stream.respond({ ':status': '200', 'content-type': 'application/json' });
  stream.end(JSON.stringify({ identity: { name: identity.name, issuer: identity.issuer ?? null, role: identity.role, site: identity.site ?? null, groups: identity.groups }, udpChannelTcpPort: ctx.udpChannelTcpPort ?? null }));
}

function crlStream(ctx: GatewayContext, stream: MuxStream): void {
  if (ctx.crlPem === undefined) return refuse(stream, 404, 'INSEL_NO_CRL', 'this gateway has no CRL to hand out (no crl.pem in its identity)');
  pemStream(stream, ctx.crlPem);
}

function pemStream(stream: MuxStream, pem: string): void {
  stream.respond({ ':status': '200', 'content-type': 'application/x-pem-file' });
  stream.end(pem);
}

/** Runs a request that holds one `kind` of the identity's limits until it settles; over the limit, refuses it (429). */
export function holding(ctx: GatewayContext, session: GatewaySession, kind: LimitKind, stream: MuxStream, facts: Pick<ConnFacts, 'to' | 'kind'>, serve: () => Promise<void>): void {
  const identity = session.identity;
  const slot = ctx.limits.take(identity, kind);
  if (!slot.ok) {
    logDenied(ctx.log, { identity, from: session.peer, ...facts }, slot.code, slot.reason);
    return refuse(stream, slot.status, slot.code, slot.reason);
  }
  void serve().finally(slot.release);
}

/** Why a forward begun at reload generation `since` is refused now; FTP data connections and ports follow their control connection instead of a rule. */
function lateRefusal(ctx: GatewayContext, since: number, session: GatewaySession, identity: Identity, f: Omit<ActiveForward, 'cut'>): string | undefined {
  if (f.followsControl === undefined) return ctx.refusedSince(since, session.tls, session.peer, identity, f);
  return session.ftpControls.has(f.followsControl) ? undefined : 'its FTP control connection ended';
}

/** Registers an open forward for reloads; returns the cut function's target. */
export function track(session: GatewaySession, f: Omit<ActiveForward, 'cut'>, cut: (reason: string) => void): ActiveForward {
  const active: ActiveForward = { ...f, cut };
  session.forwards.add(active);
  return active;
}

async function connectStream(ctx: GatewayContext, session: GatewaySession, identity: Identity, stream: MuxStream, headers: MuxHeaders): Promise<void> {
  const started = Date.now();
  const since = ctx.generation;
  const authority = headers[':authority'] ?? '';
  const ftp = headers[H_FTP];
  const facts: ConnFacts = { identity, from: session.peer, to: authority, kind: ftp === 'data' ? 'ftp-data' : 'connect', started };
  let target;
  try {
    target = parseHostPort(authority, 'CONNECT authority');
  } catch (err) {
    return refuse(stream, 400, 'INSEL_FORWARD_SPEC', (err as Error).message);
  }
  let address: string;
  let followsControl: number | undefined;
  if (ftp === 'data') {
    // A data connection is allowed by its control connection: same session,
    // same server address, an unprivileged port the server announced there.
    const id = Number(headers[H_CONTROL]);
    const control = session.ftpControls.get(id);
    const why =
      control === undefined
        ? `it must follow an open FTP control connection of this session (insel-control ${headers[H_CONTROL] ?? 'missing'} is none)`
        : !sameHost(target.host, control.address)
          ? `it must go to the server of its control connection, ${control.address}`
          : target.port < 1024
            ? 'it must go to a port >= 1024'
            : control.watch.takePassive(target.port);
    if (why !== undefined || control === undefined) {
      const reason = `FTP data connection to ${authority} refused: ${why}`;
      logDenied(ctx.log, facts, 'INSEL_POLICY_DENIED', reason);
      return refuse(stream, 403, 'INSEL_POLICY_DENIED', reason);
    }
    address = control.address;
    followsControl = id;
  } else {
    const v = await authorize(ctx.authz(), identity, 'connect', 'tcp', target.host, target.port);
    if (!v.allow) {
      logDenied(ctx.log, facts, v.code, v.reason);
      return refuse(stream, v.status, v.code, v.reason);
    }
    address = v.address;
  }
  await serveConnect(ctx, session, identity, stream, { ftp, target, address, since, facts, ...(followsControl === undefined ? {} : { followsControl }) });
}

/** A CONNECT the gateway decided to serve: where to, under which reload generation, and how it is re-checked. */
export interface ConnectPlan {
  /** "control" or "data" for FTP */
  ftp: string | undefined;
  /** what was asked for (the request's authority, or a relayed service's configured host:port) */
  target: { host: string; port: number };
  /** the checked address to dial */
  address: string;
  since: number;
  facts: ConnFacts;
  followsControl?: number;
  /** replaces the gateway policy on reload (an organization's relays) */
  recheck?: () => string | undefined;
  /** called once the connection is up, with the function that cuts it (an organization's revocations) */
  onOpen?: (cut: (reason: string) => void) => void;
}

/**
 * Dials the plan's address, answers 200 with the stream id, target and bound
 * address, and joins the two (an FTP control connection through the watch
 * that authorizes its data connections); resolves when the connection ends.
 */
export async function serveConnect(ctx: GatewayContext, session: GatewaySession, identity: Identity, stream: MuxStream, plan: ConnectPlan): Promise<void> {
  const { ftp, target, address, since, facts, followsControl, recheck, onOpen } = plan;
  facts.address = formatHostPort(address, target.port);
  let socket;
  try {
    socket = await dial(address, target.port, target.host, ctx.config.connectTimeoutMs);
  } catch (err) {
    const status = err instanceof DialError ? err.status : 502;
    logDenied(ctx.log, facts, 'INSEL_UNREACHABLE', (err as Error).message);
    return refuse(stream, status, 'INSEL_UNREACHABLE', (err as Error).message, err instanceof DialError ? err.cause : 'other');
  }
  if (stream.destroyed) return void socket.destroy();
  const forward = {
    action: 'connect' as const,
    proto: 'tcp' as const,
    host: target.host.toLowerCase(),
    address,
    port: target.port,
    ...(followsControl === undefined ? {} : { followsControl }),
    ...(recheck === undefined ? {} : { recheck }),
  };
  // A reload while we resolved or dialled: the new trust and policy decide (FTP data: its control connection must still be open).
  const late = lateRefusal(ctx, since, session, identity, forward);
  if (late !== undefined) {
    socket.destroy();
    logDenied(ctx.log, facts, 'INSEL_POLICY_DENIED', late);
    return refuse(stream, 403, 'INSEL_POLICY_DENIED', late);
  }
  const bound = formatHostPort(socket.localAddress!, socket.localPort!);
  stream.respond({ ':status': '200', [H_STREAM]: String(stream.id), [H_TARGET]: facts.address, [H_BOUND]: bound });
  let link: Splice;
  if (ftp === 'control') {
    // The tap sees each chunk before splice relays it: a 227 is known before the client reads it.
    const watch = new FtpWatch(socket.localAddress!);
    session.ftpControls.set(stream.id, { address, localAddress: socket.localAddress!, watch });
    stream.on('data', (b: Buffer) => watch.fromClient(b));
    socket.on('data', (b: Buffer) => watch.fromServer(b));
    link = splice(stream, socket);
  } else link = join(stream, socket, 'target');
  const active = track(session, forward, (reason) => {
    stream.reset(MuxCode.CUT, reason);
    link.cut(reason);
  });
  onOpen?.(active.cut);
  const r = await link.done;
  session.forwards.delete(active);
  if (ftp === 'control') {
    session.ftpControls.delete(stream.id);
    for (const f of [...session.forwards]) if (f.followsControl === stream.id) f.cut('its FTP control connection ended');
  }
  logEnd(ctx.log, facts, r);
}

async function listenStream(ctx: GatewayContext, session: GatewaySession, identity: Identity, stream: MuxStream, headers: MuxHeaders): Promise<void> {
  const since = ctx.generation;
  const ftp = headers[H_FTP];
  const to = headers[H_TO] ?? 'the client';
  let bind: { bind: string; port: number };
  let onlyFrom: string | undefined;
  let followsControl: number | undefined;
  let ftpPort: { watch: FtpWatch; slot: ActivePort } | undefined;
  const deny = (status: number, code: string, reason: string) => {
    logDenied(ctx.log, { identity, from: session.peer, to: `listen ${headers[H_BIND] ?? ''}`, kind: 'remote' }, code, reason);
    refuse(stream, status, code, reason);
  };
  if (ftp === 'active') {
    // An active-mode data port: on the gateway's address towards the FTP
    // server, for one connection from that server only.
    const id = Number(headers[H_CONTROL]);
    const control = session.ftpControls.get(id);
    if (control === undefined) return deny(403, 'INSEL_POLICY_DENIED', `FTP active-mode port refused: no open FTP control connection ${headers[H_CONTROL]} in this session`);
    const unusable = control.watch.unusable;
    if (unusable !== undefined) return deny(403, 'INSEL_POLICY_DENIED', `FTP active-mode port refused: control connection ${id} cannot authorize data connections: ${unusable}`);
    if (control.watch.activeOpen >= MAX_ACTIVE_PER_CONTROL) return deny(429, 'INSEL_LIMIT', `FTP active-mode port refused: control connection ${id} already has ${MAX_ACTIVE_PER_CONTROL} open; close a transfer first`);
    if (session.ftpActiveOpen() >= MAX_ACTIVE_PER_SESSION) return deny(429, 'INSEL_LIMIT', `FTP active-mode port refused: this session already has ${MAX_ACTIVE_PER_SESSION} open; close a transfer first`);
    ftpPort = { watch: control.watch, slot: control.watch.reserveActive() };
    bind = { bind: control.localAddress, port: 0 };
    onlyFrom = control.address;
    followsControl = id;
  } else {
    try {
      bind = parseBindPort(headers[H_BIND] ?? '', 'remote forward bind');
    } catch (err) {
      return deny(400, 'INSEL_FORWARD_SPEC', (err as Error).message);
    }
    const v = await authorize(ctx.authz(), identity, 'listen', 'tcp', bind.bind, bind.port);
    if (!v.allow) return deny(v.status, v.code, v.reason);
    bind.bind = v.address;
  }
  const server = createServer({ allowHalfOpen: true, pauseOnConnect: true });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(bind.port, bind.bind, () => resolve());
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'EADDRINUSE' ? 'the port is already in use there' : e.code === 'EADDRNOTAVAIL' ? 'the gateway has no such address' : (e.code ?? e.message);
    if (ftpPort) ftpPort.watch.releaseActive(ftpPort.slot);
    return deny(409, 'INSEL_LISTEN_FAILED', `the gateway cannot listen on ${formatHostPort(bind.bind, bind.port)}: ${why}`);
  }
  const a = server.address() as { address: string; port: number };
  if (ftpPort) ftpPort.slot.port = a.port;
  const stop = () => {
    server.close();
    session.listeners.delete(server);
    if (ftpPort) ftpPort.watch.releaseActive(ftpPort.slot);
    clearTimeout(expiry);
  };
  // An active-mode port is good for one connection, soon; its stream's end tells the client.
  const expiry = ftpPort ? setTimeout(() => (stop(), stream.end()), ACTIVE_WAIT_MS) : undefined;
  if (stream.destroyed) return stop();
  const listen = { action: 'listen' as const, proto: 'tcp' as const, host: a.address, address: a.address, port: a.port, ...(followsControl === undefined ? {} : { followsControl }) };
  // A reload while we authorized or bound: the new trust and policy decide (FTP ports: their control connection must still be open).
  const late = lateRefusal(ctx, since, session, identity, listen);
  if (late !== undefined) {
    stop();
    return deny(403, 'INSEL_POLICY_DENIED', late);
  }
  server.on('error', () => undefined);
  session.listeners.add(server);
  const boundAt = formatHostPort(a.address, a.port);
  stream.respond({ ':status': '200', [H_BOUND]: boundAt });
  ctx.log.info({ who: scopedName(identity), from: session.peer, listen: boundAt, to, ...(ftp ? { ftp } : {}) }, 'remote listen');
  const active = track(session, listen, (reason) => {
    stop();
    stream.reset(MuxCode.CUT, reason);
  });
  server.on('connection', (socket) => {
    const from = formatHostPort(socket.remoteAddress ?? '?', socket.remotePort ?? 0);
    // FTP: only the control connection's server, and only once a relayed PORT/EPRT named this port.
    const ftpRefused = onlyFrom !== undefined && !(sameHost(socket.remoteAddress ?? '', onlyFrom) && ftpPort?.slot.armed === true);
    if (ftpRefused || session.pending.size >= MAX_PENDING) {
      socket.destroy();
      return;
    }
    const id = session.nextConn++;
    const timer = setTimeout(() => {
      session.pending.delete(id);
      socket.destroy();
      ctx.log.warn({ who: scopedName(identity), from, listen: boundAt, reason: `the client did not take the connection within ${ACCEPT_TIMEOUT_MS} ms` }, 'remote connection dropped');
    }, ACCEPT_TIMEOUT_MS);
    session.pending.set(id, { socket, timer, from, listen, ftp: ftp === 'active' });
    socket.on('error', () => undefined);
    stream.write(`${JSON.stringify({ conn: id, from })}\n`);
    if (onlyFrom !== undefined) stop(); // one-shot
  });
  stream.on('close', () => {
    stop();
    session.forwards.delete(active);
  });
  stream.resume(); // the client sends nothing on it; its end closes the listener
  await new Promise<void>((resolve) => (stream.destroyed ? resolve() : stream.once('close', () => resolve())));
}

async function acceptStream(ctx: GatewayContext, session: GatewaySession, identity: Identity, stream: MuxStream, headers: MuxHeaders): Promise<void> {
  const id = Number(headers[H_CONN]);
  const p = session.pending.get(id);
  if (p === undefined) return refuse(stream, 404, 'INSEL_NOT_FOUND', `no pending remote connection ${headers[H_CONN]} (taken, timed out, or never there)`);
  session.pending.delete(id);
  clearTimeout(p.timer);
  const facts: ConnFacts = { identity, from: p.from, to: headers[H_TO] ?? 'the client', kind: p.ftp ? 'ftp-data' : 'remote', started: Date.now() };
  const refused = headers[H_REFUSE];
  if (refused !== undefined) {
    p.socket.destroy();
    stream.respond({ ':status': '200' }, { end: true });
    return logDenied(ctx.log, facts, 'INSEL_UNREACHABLE', `the client could not take it: ${refused}`);
  }
  stream.respond({ ':status': '200' });
  const link = join(stream, p.socket, 'target');
  // Re-checked on reload like its listener; FTP data goes with its control connection.
  const active = track(session, p.listen, (reason) => {
    stream.reset(MuxCode.CUT, reason);
    link.cut(reason);
  });
  const r = await link.done;
  session.forwards.delete(active);
  logEnd(ctx.log, facts, r);
}
