// The user's end of UDP services and calls (docs/PROTOCOL.md §7.4), over
// the user's session with its own site gateway (insel/1) and a SecSockets
// UDP channel to the same gateway (user certificate; the gateway's role
// `site` and name checked):
//   openUdp      a local UDP port whose flows go to "svc@site" or "call:<id>"
//   invite       POST /insel/v1/call     → {callId, expiresAt}
//   agent        GET  /insel/v1/calls    → one Invitation per line, until closed
//   checkAnswer  POST /insel/v1/answer   → {from} if the call rings for us
import type { MuxHeaders } from '../../mux/index.js';
import { connect as secConnect } from '../../secsock/client.js';
import type { IdentityPem } from '../../pki/profile.js';
import type { HostPort } from '../../net/host-port.js';
import { H_TO } from '../../forward/protocol.js';
import { onJsonLines, readAll, type OpenStream } from '../../forward/session.js';
import { UdpLocalForward } from '../../udpflow/local.js';
import { CallError } from './errors.js';
import { H_CALL, PATH_ANSWER, PATH_CALL, PATH_CALLS } from './site-requests.js';
import type { Invitation } from './site-calls.js';

/** The user's session with its site gateway (ForwardSession is one). */
export interface SiteSession {
  request(headers: MuxHeaders, end: boolean): Promise<OpenStream>;
  /** the gateway's SecSockets UDP port (GET /insel/v1/info), if it has one */
  readonly udpChannelTcpPort: number | undefined;
}

export interface UdpOpenOptions {
  session: SiteSession;
  /** where the session goes (the UDP channel goes to the same host) */
  via: HostPort;
  /** the site's name: the gateway's certificate must carry it */
  site: string;
  identity: IdentityPem;
  /** "svc@site" or "call:<id>" */
  service: string;
  bind: string;
  port: number;
  idleMs?: number;
  log?: (line: string) => void;
  onFlowClosed?: (reason: string) => void;
}

export const DEFAULT_UDP_IDLE_MS = 60_000;

/** Binds the local port and opens the UDP channel to the site gateway. */
export function openUdp(o: UdpOpenOptions): Promise<UdpLocalForward> {
  const port = o.session.udpChannelTcpPort;
  if (port === undefined) throw new CallError('INSEL_CALL_SITE_DOWN', `site ${o.site}'s gateway takes no UDP (its site.toml has no udp_listen)`);
  return UdpLocalForward.start({
    bind: o.bind,
    port: o.port,
    service: o.service,
    idleMs: o.idleMs ?? DEFAULT_UDP_IDLE_MS,
    ...(o.log === undefined ? {} : { log: o.log }),
    ...(o.onFlowClosed === undefined ? {} : { onFlowClosed: o.onFlowClosed }),
    openChannel: () => secConnect({ transport: 'udp', host: o.via.host, port, identity: o.identity, peerRoles: ['site'], serverName: o.site }),
  });
}

export async function invite(session: SiteSession, to: string): Promise<{ callId: string; expiresAt: string }> {
  const r = await session.request({ ':method': 'POST', ':path': PATH_CALL, [H_TO]: to }, true);
  return JSON.parse((await readAll(r.stream)).toString('utf8')) as { callId: string; expiresAt: string };
}

export async function checkAnswer(session: SiteSession, callId: string): Promise<{ from: string }> {
  const r = await session.request({ ':method': 'POST', ':path': PATH_ANSWER, [H_CALL]: callId }, true);
  return JSON.parse((await readAll(r.stream)).toString('utf8')) as { from: string };
}

/** Calls `fn` with each invitation; resolves with why the agent's stream ended. */
export async function agent(session: SiteSession, fn: (inv: Invitation) => void): Promise<{ ended: Promise<string>; stop(): void }> {
  const r = await session.request({ ':method': 'GET', ':path': PATH_CALLS }, true);
  let why = 'the site gateway ended the agent';
  onJsonLines<{ type?: unknown; callId?: unknown; from?: unknown; expiresAt?: unknown; reason?: unknown }>(r.stream, (m) => {
    if (m.type === 'call' && typeof m.callId === 'string' && typeof m.from === 'string') fn({ type: 'call', callId: m.callId, from: m.from, expiresAt: String(m.expiresAt) });
    else if (m.type === 'closed' && typeof m.reason === 'string') why = `the site gateway closed the agent: ${m.reason}`;
  });
  const ended = new Promise<string>((resolve) => r.stream.once('close', () => resolve(why)));
  return { ended, stop: () => r.stream.destroy() };
}
