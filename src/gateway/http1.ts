// HTTP/1.1 on the gateway's listener, for standard clients: CONNECT
// host:port (a tunnel) and absolute-form requests (`GET http://host/`, what
// curl sends through an HTTPS proxy for plain-HTTP URLs), under the same
// mTLS identity and policy as insel/1 forwards. Refusals are HTTP responses
// with the reason in the body: never a silent close.
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { authorize } from './authorize.js';
import { logDenied, logEnd, type ConnFacts } from './conn-log.js';
import { dial, DialError } from './dial.js';
import type { GatewayContext } from './forward-requests.js';
import type { ActiveForward } from './session.js';
import { H_CODE, H_REASON, headerSafe } from '../forward/protocol.js';
import { formatHostPort, parseHostPort } from '../net/host-port.js';
import { splice } from '../forward/splice.js';
import type { Identity } from '../pki/identity.js';

export interface Http1Context extends GatewayContext {
  /** The certificate's identity, or the refusal (which it counts, once per connection). */
  identify(socket: TLSSocket, peer: string): { identity?: Identity; refusal?: { code: string; reason: string } };
  /** Registers an open CONNECT tunnel for reloads; returns its unregister. */
  trackTunnel(tunnel: Http1Tunnel): () => void;
}

/** An HTTP/1.1 CONNECT tunnel: re-checked on reload like an insel/1 forward. */
export interface Http1Tunnel {
  socket: TLSSocket;
  identity: Identity;
  forward: ActiveForward;
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 403: 'Forbidden', 429: 'Too Many Requests', 502: 'Bad Gateway', 504: 'Gateway Timeout' };
/** Hop-by-hop headers (RFC 9110 §7.6.1) are not forwarded. */
const HOP = new Set(['connection', 'proxy-connection', 'keep-alive', 'proxy-authorization', 'proxy-authenticate', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

function peerOf(socket: TLSSocket): string {
  return `${socket.remoteAddress}:${socket.remotePort}`;
}

function rawRefusal(socket: TLSSocket, status: number, code: string, reason: string): void {
  const body = `${reason}\n`;
  socket.end(`HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\n${H_CODE}: ${code}\r\n${H_REASON}: ${headerSafe(reason)}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

/** An authorized proxy request: its log facts, target and forward (for reload re-checks); `release` gives back its stream slot. */
interface Admitted {
  facts: ConnFacts;
  host: string;
  port: number;
  address: string;
  forward: Omit<ActiveForward, 'cut'>;
  release(): void;
}

/** The authorized target of a proxy request, or undefined after answering the refusal. */
async function admit(
  ctx: Http1Context,
  socket: TLSSocket,
  hostPort: string,
  kind: ConnFacts['kind'],
  /** `close`: end the connection after this answer (a refused certificate gets nothing more) */
  refuse: (status: number, code: string, reason: string, close?: boolean) => void,
): Promise<Admitted | undefined> {
  const peer = peerOf(socket);
  const { identity, refusal } = ctx.identify(socket, peer);
  if (!identity) {
    refuse(403, refusal!.code, refusal!.reason, true); // counted by identify(); logged only in aggregate
    return undefined;
  }
  const facts: ConnFacts = { identity, from: peer, to: hostPort, kind, started: Date.now() };
  let target;
  try {
    target = parseHostPort(hostPort, 'request target');
  } catch (err) {
    refuse(400, 'INSEL_FORWARD_SPEC', (err as Error).message);
    return undefined;
  }
  // Held until the caller releases it: counted with the identity's insel/1 forwards.
  const slot = ctx.limits.take(identity, 'streams');
  const deny = (code: string, status: number, reason: string) => {
    logDenied(ctx.log, facts, code, reason);
    refuse(status, code, reason);
    return undefined;
  };
  if (!slot.ok) return deny(slot.code, slot.status, slot.reason);
  const v = await authorize(ctx.authz(), identity, 'connect', 'tcp', target.host, target.port);
  if (!v.allow) {
    slot.release();
    return deny(v.code, v.status, v.reason);
  }
  facts.address = formatHostPort(v.address, target.port);
  const forward = { action: 'connect' as const, proto: 'tcp' as const, host: target.host.toLowerCase(), address: v.address, port: target.port };
  return { facts, host: target.host, port: target.port, address: v.address, forward, release: slot.release };
}

/**
 * Dials the admitted target; if a reload came while we authorized or
 * dialled, the new trust and policy decide. Undefined after refusing.
 */
async function dialAdmitted(ctx: Http1Context, socket: TLSSocket, since: number, ok: Admitted, refuse: (status: number, code: string, reason: string) => void): Promise<Socket | undefined> {
  let target;
  try {
    target = await dial(ok.address, ok.port, ok.host, ctx.config.connectTimeoutMs);
  } catch (err) {
    ok.release();
    logDenied(ctx.log, ok.facts, 'INSEL_UNREACHABLE', (err as Error).message);
    return void refuse(err instanceof DialError ? err.status : 502, 'INSEL_UNREACHABLE', (err as Error).message);
  }
  const late = ctx.refusedSince(since, socket, peerOf(socket), ok.facts.identity, ok.forward);
  if (late === undefined) return target;
  target.destroy();
  ok.release();
  logDenied(ctx.log, ok.facts, 'INSEL_POLICY_DENIED', late);
  return void refuse(403, 'INSEL_POLICY_DENIED', late);
}

export async function handleHttp1Connect(ctx: Http1Context, req: IncomingMessage, socket: TLSSocket, head: Buffer): Promise<void> {
  const since = ctx.generation;
  socket.on('error', () => undefined);
  const refuse = (s: number, c: string, r: string) => rawRefusal(socket, s, c, r);
  const ok = await admit(ctx, socket, req.url ?? '', 'http1-connect', refuse);
  if (!ok) return;
  const target = await dialAdmitted(ctx, socket, since, ok, refuse);
  if (!target) return;
  socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
  if (head.length > 0) target.write(head);
  const link = splice(socket, target);
  const forward: ActiveForward = { ...ok.forward, cut: (reason) => link.cut(reason) };
  const untrack = ctx.trackTunnel({ socket, identity: ok.facts.identity, forward });
  const r = await link.done;
  untrack();
  ok.release();
  logEnd(ctx.log, ok.facts, r);
}

export async function handleHttp1Request(ctx: Http1Context, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const since = ctx.generation;
  const socket = req.socket as TLSSocket;
  const refuse = (status: number, code: string, reason: string, close = false) => {
    if (res.headersSent) return void res.destroy();
    if (close) res.shouldKeepAlive = false;
    res.writeHead(status, { [H_CODE]: code, [H_REASON]: headerSafe(reason), 'content-type': 'text/plain; charset=utf-8' });
    res.end(`${reason}\n`);
  };
  let url: URL;
  try {
    url = new URL(req.url ?? '');
    if (url.protocol !== 'http:') throw new Error('not http');
  } catch {
    return refuse(400, 'INSEL_NOT_A_PROXY_REQUEST', `this is an insel gateway: send CONNECT host:port, or an absolute http:// URL through it as a proxy (got ${JSON.stringify(req.url)})`);
  }
  const ok = await admit(ctx, socket, `${url.hostname}:${url.port || 80}`, 'http1-proxy', refuse);
  if (!ok) return;
  const target = await dialAdmitted(ctx, socket, since, ok, refuse);
  if (!target) return;
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP.has(k)) headers[k] = v;
  let up = 0;
  let down = 0;
  // The connection we dialled and re-checked: node's http speaks over it instead of dialling again.
  const out = httpRequest({ createConnection: () => target, method: req.method, path: `${url.pathname}${url.search}`, headers, timeout: ctx.config.connectTimeoutMs });
  const finish = (end: string) => logEnd(ctx.log, ok.facts, { up, down, end });
  res.once('close', ok.release);
  out.on('timeout', () => out.destroy(new DialError(504, `no answer from ${ok.facts.to} within ${ctx.config.connectTimeoutMs} ms`, 'timeout')));
  out.on('error', (err) => {
    logDenied(ctx.log, ok.facts, 'INSEL_UNREACHABLE', err.message);
    refuse(err instanceof DialError ? 504 : 502, 'INSEL_UNREACHABLE', `the gateway could not reach ${ok.facts.to}: ${err.message}`);
  });
  out.on('response', (answer) => {
    const back: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(answer.headers)) if (v !== undefined && !HOP.has(k)) back[k] = v;
    res.writeHead(answer.statusCode ?? 502, back);
    answer.on('data', (b: Buffer) => void (down += b.length));
    answer.pipe(res);
    res.on('close', () => finish(answer.complete ? 'done' : 'client closed'));
  });
  req.on('data', (b: Buffer) => void (up += b.length));
  req.pipe(out);
}
