// The client's end of a gateway session: TLS 1.3 with our certificate, the
// gateway's certificate checked against our CA and CRL, its role (server)
// and its name, our CRL refreshed from it (gateway-trust.ts), then one
// HTTP/2 session for every forward. A new forwarded connection is one more
// stream: no handshake.
import { EventEmitter } from 'node:events';
import { connect as h2connect, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { Identity } from '../pki/identity.js';
import { connectTls } from '../tls/connect.js';
import { TlsError } from '../tls/errors.js';
import { ForwardError, type ForwardErrorCode } from './errors.js';
import { checkGateway, heldTrust, refreshTrust, type GatewayTrustOptions } from './gateway-trust.js';
import { H2_SETTINGS, H_CODE, H_REASON, MAX_SESSION_MEMORY_MB, PATH_ACCEPT, PATH_CRL, PATH_EVENTS, PATH_INFO, PATH_LISTEN, SESSION_WINDOW, H_CONN, H_REFUSE } from './protocol.js';
import { formatHostPort, type HostPort } from '../net/host-port.js';
import { WriteAhead } from './write-ahead.js';

/** A CRL bundle larger than this is not what insel pki crl writes. */
const MAX_CRL_BYTES = 4 * 1024 * 1024;

export interface SessionOptions extends GatewayTrustOptions {
  via: HostPort;
  /** TLS connect and each request's answer; default 15 s */
  timeoutMs?: number;
}

export interface GatewayRefusal {
  status: number;
  code: string;
  reason: string;
}

const KNOWN = new Set<string>(['INSEL_POLICY_DENIED', 'INSEL_UNKNOWN_HOST', 'INSEL_UNREACHABLE', 'INSEL_LIMIT']);

/** A refusal from the gateway, with its reason as the message. */
export class GatewayRefusedError extends ForwardError {
  constructor(readonly refusal: GatewayRefusal) {
    super(KNOWN.has(refusal.code) ? (refusal.code as ForwardErrorCode) : 'INSEL_GATEWAY_REFUSED', refusal.reason);
  }
}

export interface OpenStream {
  stream: ClientHttp2Stream;
  headers: IncomingHttpHeaders;
}

/**
 * Events: 'close' (reason: string) when the session ends; 'cut' (streamId,
 * reason) when the gateway cut one forward (policy reload).
 */
export class ForwardSession extends EventEmitter {
  private closeReason = '';
  private ended = false;

  private constructor(
    private readonly h2: ClientHttp2Session,
    readonly gateway: Identity,
    readonly via: HostPort,
    private readonly timeoutMs: number,
  ) {
    super();
    h2.on('error', (err: Error) => (this.closeReason ||= `session error: ${err.message}`));
    h2.on('goaway', (_code: number, _last: number, data?: Buffer) => {
      if (data && data.length > 0) this.closeReason = `the gateway closed the session: ${data.toString('utf8')}`;
      // The gateway only sends GOAWAY to end the session: streams still open go with it.
      setImmediate(() => h2.destroy());
    });
    h2.once('close', () => {
      this.ended = true;
      this.emit('close', this.closeReason || 'the gateway closed the session');
    });
  }

  /** Connects and checks both certificates; the gateway's verdict on ours comes back as a GatewayRefusedError. */
  static async open(opts: SessionOptions): Promise<ForwardSession> {
    const timeoutMs = opts.timeoutMs ?? 15_000;
    const where = formatHostPort(opts.via.host, opts.via.port);
    const trust = heldTrust(opts);
    const socket = await openTls(opts, where, timeoutMs);
    let gateway: Identity;
    try {
      gateway = checkGateway(socket, trust, opts, opts.via.host, where);
    } catch (err) {
      socket.destroy();
      throw err;
    }
    const h2 = h2connect(`https://${where}`, { createConnection: () => new WriteAhead(socket), settings: H2_SETTINGS, maxSessionMemory: MAX_SESSION_MEMORY_MB });
    h2.on('connect', () => h2.setLocalWindowSize(SESSION_WINDOW));
    const s = new ForwardSession(h2, gateway, opts.via, timeoutMs);
    try {
      const info = await s.request({ ':method': 'GET', ':path': PATH_INFO }, true);
      s.udpChannelTcpPort = (JSON.parse((await readAll(info.stream)).toString('utf8')) as { udpChannelTcpPort: number | null }).udpChannelTcpPort ?? undefined;
      s.crl = await refreshTrust(() => s.fetchCrl(), socket, trust, opts, opts.via.host, where);
      const events = await s.request({ ':method': 'GET', ':path': PATH_EVENTS }, false);
      s.watchEvents(events.stream);
    } catch (err) {
      h2.destroy();
      throw err;
    }
    return s;
  }

  /** The gateway's TCP port where SecSockets UDP channels are opened, if it takes UDP forwards. */
  udpChannelTcpPort: number | undefined;

  /** The CRL this session was trusted with, refreshed from the gateway if it had a newer one. */
  crl: string | undefined;

  /** The gateway's CRL bundle, or undefined if it has none to hand out. */
  private async fetchCrl(): Promise<string | undefined> {
    let answer: OpenStream;
    try {
      answer = await this.request({ ':method': 'GET', ':path': PATH_CRL }, true);
    } catch (err) {
      if (err instanceof GatewayRefusedError && err.refusal.status === 404) return undefined;
      throw err;
    }
    // The answer came in time; the body must too, or a stalled one would hold the session's start.
    let late = false;
    const timer = setTimeout(() => {
      late = true;
      answer.stream.close();
    }, this.timeoutMs);
    const body = await readAll(answer.stream, MAX_CRL_BYTES + 1).finally(() => clearTimeout(timer));
    if (late) throw new ForwardError('INSEL_GATEWAY', `its CRL bundle did not arrive within ${this.timeoutMs} ms`);
    if (body.length > MAX_CRL_BYTES) throw new ForwardError('INSEL_GATEWAY', `its CRL bundle is larger than ${MAX_CRL_BYTES} bytes`);
    return body.toString('utf8');
  }

  /** Opens a forwarded TCP connection to host:port as seen from the gateway. */
  connect(host: string, port: number, extra: OutgoingHttpHeaders = {}): Promise<OpenStream> {
    return this.request({ ':method': 'CONNECT', ':authority': formatHostPort(host, port), ...extra }, false);
  }

  /** Asks the gateway to listen (remote forward); the answer's body is one JSON line per connection. */
  listen(extra: OutgoingHttpHeaders): Promise<OpenStream> {
    return this.request({ ':method': 'POST', ':path': PATH_LISTEN, ...extra }, true);
  }

  /** Takes pending remote connection `id`, or tells the gateway why we cannot. */
  accept(id: number, extra: OutgoingHttpHeaders = {}, refuse?: string): Promise<OpenStream> {
    const h: OutgoingHttpHeaders = { ':method': 'POST', ':path': PATH_ACCEPT, [H_CONN]: String(id), ...extra };
    if (refuse !== undefined) h[H_REFUSE] = refuse.replace(/[^\x20-\x7e]/g, '?');
    return this.request(h, refuse !== undefined);
  }

  close(): void {
    if (!this.h2.closed) this.h2.close();
  }

  /** Drops the session at once, open streams included. */
  destroy(): void {
    this.h2.destroy();
  }

  private watchEvents(stream: ClientHttp2Stream): void {
    onJsonLines(stream, (e: { stream?: unknown; session?: unknown; reason?: unknown }) => {
      if (e.session !== undefined && e.reason) this.closeReason = `the gateway closed the session: ${String(e.reason)}`;
      else if (typeof e.stream === 'number') this.emit('cut', e.stream, String(e.reason ?? ''));
    });
  }

  private request(headers: OutgoingHttpHeaders, endStream: boolean): Promise<OpenStream> {
    if (this.ended || this.h2.closed || this.h2.destroyed) {
      return Promise.reject(new ForwardError('INSEL_GATEWAY', `no session with the gateway: ${this.closeReason || 'closed'}`));
    }
    const stream = this.h2.request(headers, { endStream });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        stream.close();
        reject(new ForwardError('INSEL_GATEWAY', `the gateway did not answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      stream.once('error', (err: Error) => {
        clearTimeout(timer);
        reject(new ForwardError('INSEL_GATEWAY', `the request to the gateway failed: ${err.message}`, { cause: err }));
      });
      stream.once('close', () => {
        clearTimeout(timer);
        reject(new ForwardError('INSEL_GATEWAY', `the gateway closed the stream before answering${this.closeReason ? `: ${this.closeReason}` : ''}`));
      });
      stream.once('response', (h: IncomingHttpHeaders) => {
        clearTimeout(timer);
        // Answered: from here the stream's end is the forward's business (or the refusal body's).
        stream.removeAllListeners('close');
        stream.removeAllListeners('error');
        stream.on('error', () => undefined);
        const status = Number(h[':status']);
        if (status === 200) return resolve({ stream, headers: h });
        const code = String(h[H_CODE] ?? 'INSEL_POLICY_DENIED');
        const fallback = String(h[H_REASON] ?? `status ${status}`);
        // The body has the full reason (UTF-8); the header is its ASCII shadow.
        void readAll(stream, 8192).then(
          (body) => reject(new GatewayRefusedError({ status, code, reason: body.toString('utf8').trim() || fallback })),
          () => reject(new GatewayRefusedError({ status, code, reason: fallback })),
        );
      });
    });
  }
}

/** The insel protocol this client speaks to a gateway, by ALPN. */
const ALPN = ['h2'];

/** A TLS connection to the gateway, handshake done and ALPN agreed; failures as ForwardError INSEL_GATEWAY naming it. */
async function openTls(opts: SessionOptions, where: string, timeoutMs: number): Promise<TLSSocket> {
  try {
    // noDelay: small frames (a new stream's first bytes) must not wait for Nagle.
    return await connectTls({ ...opts.via, identity: opts.identity, alpn: ALPN, noDelay: true, timeoutMs, what: 'gateway' });
  } catch (err) {
    if (!(err instanceof TlsError)) throw err;
    const why = err.code === 'INSEL_TLS_PROTOCOL' ? `${where} is not an insel gateway (${err.reason})` : `cannot reach gateway ${where}: ${err.reason}`;
    throw new ForwardError('INSEL_GATEWAY', why, { peer: where, cause: err });
  }
}

/** Reads a stream to its end, keeping at most `max` bytes. */
export function readAll(stream: ClientHttp2Stream, max = 65536): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let n = 0;
    stream.on('data', (b: Buffer) => {
      if (n < max) parts.push(b.subarray(0, max - n));
      n += b.length;
    });
    stream.once('end', () => resolve(Buffer.concat(parts)));
    stream.once('close', () => resolve(Buffer.concat(parts))); // reset before its end: what came
    stream.once('error', reject);
  });
}

/** Calls `fn` with each JSON line of a response body (events, remote connections); unreadable lines are skipped. */
export function onJsonLines<T>(stream: ClientHttp2Stream, fn: (value: T) => void, maxLine = 65536): void {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buf += chunk;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let value: T;
      try {
        value = JSON.parse(line) as T;
      } catch {
        continue; // a notice we cannot read is only a notice lost
      }
      fn(value);
    }
    if (buf.length > maxLine) buf = '';
  });
  stream.on('error', () => undefined);
}
