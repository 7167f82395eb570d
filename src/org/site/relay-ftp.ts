// FTP data connections of a relayed control connection, at the user's site.
// The user's FTP relay (forward/ftp-hooks.ts) asks its site gateway as it
// would ask any gateway, naming the control by this site's stream id; the
// site passes each request over the same session to the FTP server's site,
// naming that site's control stream. That site authorizes them from its own
// watch of the control connection (gateway/ftp-watch.ts), exactly as for a
// direct FTP forward: this site only keeps a user's requests to the user's
// own control relays and the remote connections announced to that user.
//   passive: CONNECT server:port, insel-ftp: data, insel-control: ID
//   active:  POST /insel/v1/listen, insel-ftp: active, insel-control: ID
//            (the far site's one-shot listener; its JSON lines come back
//            here, then to the user), then POST /insel/v1/accept, insel-conn: N
import { logEnd, type ConnFacts } from '../../gateway/conn-log.js';
import type { GatewaySession } from '../../gateway/session.js';
import { onJsonLines, type ForwardSession, type PendingStream } from '../../forward/session.js';
import { H_BOUND, H_CONN, H_CONTROL, H_FTP, H_REFUSE, H_STREAM, PATH_ACCEPT, PATH_LISTEN, requestKind } from '../../forward/protocol.js';
import type { MuxHeaders, MuxStream } from '../../mux/index.js';
import type { SiteContext } from './context.js';
import { answerOf, denier, relayStreams } from './relay-link.js';

/** An FTP control relay of a user session: the site session it went over, and that site's control stream. */
export interface FtpRelay {
  peer: ForwardSession;
  farControl: string;
}

/** Remote (active-mode) connections announced to one session and not taken yet; more are not passed on. */
const MAX_ANNOUNCED = 64;
const ANNOUNCED_TTL_MS = 15_000;

interface SessionFtp {
  controls: Map<number, FtpRelay>;
  /** far connection id → the site session it waits on */
  announced: Map<number, ForwardSession>;
}
const bySession = new WeakMap<GatewaySession, SessionFtp>();

export function addFtpRelay(session: GatewaySession, id: number, relay: FtpRelay): void {
  let s = bySession.get(session);
  if (s === undefined) bySession.set(session, (s = { controls: new Map(), announced: new Map() }));
  s.controls.set(id, relay);
}

export function removeFtpRelay(session: GatewaySession, id: number): void {
  bySession.get(session)?.controls.delete(id);
}

/** Whether the request is an FTP data request of one of this session's control relays (or takes a connection one announced). */
export function isRelayedFtp(session: GatewaySession, headers: MuxHeaders): boolean {
  const s = bySession.get(session);
  if (s === undefined) return false;
  const kind = requestKind(headers);
  if (kind === `POST ${PATH_ACCEPT}`) return s.announced.has(Number(headers[H_CONN]));
  const ftp = headers[H_FTP];
  const ours = s.controls.has(Number(headers[H_CONTROL]));
  return ours && ((kind === 'CONNECT' && ftp === 'data') || (kind === `POST ${PATH_LISTEN}` && ftp === 'active'));
}

/** Serves a request isRelayedFtp said yes to. */
export async function relayFtp(site: SiteContext, session: GatewaySession, stream: MuxStream, headers: MuxHeaders): Promise<void> {
  const s = bySession.get(session)!;
  const kind = requestKind(headers);
  const facts: ConnFacts = { identity: session.identity, from: session.peer, to: headers[':authority'] ?? 'ftp active', kind: 'ftp-data', started: Date.now() };
  const deny = denier(site, stream, facts);
  const pass = async (peer: ForwardSession, request: MuxHeaders, end: boolean): Promise<PendingStream | undefined> => {
    let far: PendingStream;
    try {
      far = peer.open(request, end);
    } catch (err) {
      return void deny(502, 'INSEL_ORG_SITE_UNREACHABLE', (err as Error).message);
    }
    const answered = await answerOf(far, "the FTP server's site", deny);
    if (answered === undefined) return undefined;
    if (stream.destroyed) return void far.stream.destroy();
    stream.respond({ ':status': '200', ...(answered[H_BOUND] === undefined ? {} : { [H_BOUND]: answered[H_BOUND] }), [H_STREAM]: String(stream.id) }, { end: end && request[H_REFUSE] !== undefined });
    return far;
  };
  if (kind === `POST ${PATH_ACCEPT}`) {
    const id = Number(headers[H_CONN]);
    const peer = s.announced.get(id)!;
    s.announced.delete(id);
    const refused = headers[H_REFUSE];
    const far = await pass(peer, { ':method': 'POST', ':path': PATH_ACCEPT, [H_CONN]: String(id), ...(refused === undefined ? {} : { [H_REFUSE]: refused }) }, refused !== undefined);
    if (far === undefined || refused !== undefined) return;
    return logEnd(site.log, facts, await relayStreams(stream, far.stream).done);
  }
  const control = s.controls.get(Number(headers[H_CONTROL]))!;
  if (kind === 'CONNECT') {
    const far = await pass(control.peer, { ':method': 'CONNECT', ':authority': headers[':authority'] ?? '', [H_FTP]: 'data', [H_CONTROL]: control.farControl }, false);
    if (far === undefined) return;
    return logEnd(site.log, facts, await relayStreams(stream, far.stream).done);
  }
  // Active mode: the far site's one-shot listener; each connection it announces may be taken by this session only.
  const far = await pass(control.peer, { ':method': 'POST', ':path': PATH_LISTEN, [H_FTP]: 'active', [H_CONTROL]: control.farControl }, true);
  if (far === undefined) return;
  onJsonLines(far.stream, (e: { conn?: unknown; from?: unknown }) => {
    if (typeof e.conn !== 'number' || s.announced.size >= MAX_ANNOUNCED) return;
    const id = e.conn;
    s.announced.set(id, control.peer);
    // The far site drops a connection not taken within its accept timeout; forget it a little later.
    setTimeout(() => s.announced.get(id) === control.peer && s.announced.delete(id), ANNOUNCED_TTL_MS).unref();
    stream.write(`${JSON.stringify({ conn: e.conn, from: String(e.from ?? '?') })}\n`);
  });
  far.stream.once('end', () => stream.end());
  far.stream.once('close', () => stream.destroy());
  stream.once('close', () => far.stream.destroy());
  stream.resume();
}
