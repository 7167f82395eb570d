// Test helpers that speak insel/1 by hand, for attacks and fakes that the
// real client would never produce: a raw mux session as any certificate (or
// none) from any loopback address, and a request whose refusal is returned,
// not thrown.
import { connect as tcpConnect } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { MUX_ALPN, MuxSession, type MuxHeaders, type MuxLimits, type MuxStream } from '../mux/index.js';
import type { IdentityPem } from '../pki/profile.js';
import { readAll } from './session.js';

export interface RawMux {
  mux: MuxSession;
  socket: TLSSocket;
  /** resolves with the session's close reason */
  closed: Promise<string>;
}

/** A client mux session to the gateway at `port`, as `identity` (none: certificate-less), from `from`. */
export async function rawMux(port: number, identity?: Partial<IdentityPem>, from = '127.0.0.1', limits: Partial<MuxLimits> = {}): Promise<RawMux> {
  const raw = tcpConnect({ port, host: '127.0.0.1', localAddress: from });
  raw.on('error', () => undefined);
  const socket = tlsConnect({ socket: raw, rejectUnauthorized: false, ALPNProtocols: [MUX_ALPN], ...(identity?.cert ? { cert: identity.cert, key: identity.key } : {}) });
  socket.on('error', () => undefined);
  socket.once('close', () => raw.destroy());
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve());
    socket.once('close', () => reject(new Error('closed before the TLS handshake completed')));
  });
  const mux = new MuxSession(socket, { side: 'client', peer: `127.0.0.1:${port}`, limits });
  const closed = new Promise<string>((resolve) => mux.once('close', (reason: string) => resolve(reason)));
  return { mux, socket, closed };
}

export interface Answer {
  stream: MuxStream;
  /** the REPLY headers, or for a stream reset before its answer: code and reason */
  headers?: MuxHeaders;
  reset?: { code: number; reason: string };
}

/** Sends a request and waits for its REPLY or RESET (or the session's end: neither is set). */
export function ask(mux: MuxSession, headers: MuxHeaders, end = true): Promise<Answer> {
  const stream = mux.open(headers, { end });
  stream.on('error', () => undefined);
  return new Promise((resolve) => {
    stream.once('response', (h: MuxHeaders) => resolve({ stream, headers: h }));
    stream.once('reset', (code: number, reason: string) => resolve({ stream, reset: { code, reason } }));
    stream.once('close', () => resolve({ stream }));
  });
}

/** A request's answer and its body (JSON for info). */
export async function askBody(mux: MuxSession, headers: MuxHeaders): Promise<{ headers?: MuxHeaders; body: string }> {
  const a = await ask(mux, headers);
  return { ...(a.headers ? { headers: a.headers } : {}), body: (await readAll(a.stream)).toString('utf8') };
}
