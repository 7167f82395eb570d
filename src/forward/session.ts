// The client's end of a gateway session: TLS 1.3 with our certificate, the
// gateway's certificate checked against our CA and CRL, its role (server)
// and its name, our CRL (and, for a profile, our trust bundle) refreshed
// from it (gateway-trust.ts), then one
// insel/1 mux session (src/mux) for every forward. A new forwarded
// connection is one more stream: no handshake, and its first bytes may
// follow the OPEN at once (open()).
//
// What forwards see is narrow: request(headers) answers with the REPLY
// headers or throws GatewayRefusedError; connect/listen/accept build the
// requests; 'close' says the session is over and why. A forward cut by the
// gateway (policy reload, revocation) is its stream's reset with code CUT
// and the reason (cutReason()).
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { GOAWAY_NORMAL, MUX_ALPN, MuxCode, MuxSession, type MuxHeaders, type MuxStream } from '../mux/index.js';
import type { Identity } from '../pki/identity.js';
import { connectTls } from '../tls/connect.js';
import { TlsError } from '../tls/errors.js';
import { ForwardError, type ForwardErrorCode } from './errors.js';
import { checkGateway, heldTrust, refreshBundle, refreshTrust, type GatewayTrustOptions } from './gateway-trust.js';
import { H_CAUSE, H_CODE, H_CONN, H_REASON, H_REFUSE, PATH_ACCEPT, PATH_CA, PATH_CRL, PATH_INFO, PATH_LISTEN } from './protocol.js';
import { formatHostPort, type HostPort } from '../net/host-port.js';

/** A CRL or trust bundle larger than this is not what insel pki writes. */
const MAX_PEM_BYTES = 4 * 1024 * 1024;

export interface SessionOptions extends GatewayTrustOptions {
  via: HostPort;
  /** TLS connect and each request's answer; default 15 s */
  timeoutMs?: number;
}

export interface GatewayRefusal {
  status: number;
  code: string;
  reason: string;
  /** INSEL_UNREACHABLE: why the gateway's dial failed (insel-cause) */
  cause?: string;
}

const KNOWN = new Set<string>(['INSEL_POLICY_DENIED', 'INSEL_UNKNOWN_HOST', 'INSEL_UNREACHABLE', 'INSEL_LIMIT']);

/** A refusal from the gateway, with its reason as the message. */
export class GatewayRefusedError extends ForwardError {
  constructor(readonly refusal: GatewayRefusal) {
    super(KNOWN.has(refusal.code) ? (refusal.code as ForwardErrorCode) : 'INSEL_GATEWAY_REFUSED', refusal.reason);
  }
}

export interface OpenStream {
  stream: MuxStream;
  headers: MuxHeaders;
}

/** A request whose answer is still on its way: its stream may carry data already (optimistic open). */
export interface PendingStream {
  stream: MuxStream;
  /** the REPLY headers of a 200, or a GatewayRefusedError / ForwardError */
  answer: Promise<MuxHeaders>;
}

/** Why the gateway cut a stream (policy reload, revocation), or undefined for any other end: call from its 'reset' listener. */
export function cutReason(code: number, reason: string): string | undefined {
  return code === MuxCode.CUT ? reason : undefined;
}

/** Events: 'close' (reason: string) once, when the session ends. */
export class ForwardSession extends EventEmitter {
  private closeReason = '';

  private constructor(
    private readonly mux: MuxSession,
    readonly gateway: Identity,
    readonly via: HostPort,
    private readonly timeoutMs: number,
  ) {
    super();
    // The gateway only sends GOAWAY to end the session, with its reason (a reload cut, a refusal).
    mux.on('goaway', (_code: number, reason: string) => {
      if (reason) this.closeReason = `the gateway closed the session: ${reason}`;
    });
    mux.once('close', (reason: string) => this.emit('close', this.closeReason || (reason ? `the session ended: ${reason}` : 'the gateway closed the session')));
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
    const s = new ForwardSession(new MuxSession(socket, { side: 'client', peer: where }), gateway, opts.via, timeoutMs);
    try {
      const info = await s.request({ ':method': 'GET', ':path': PATH_INFO }, true);
      s.udpChannelTcpPort = (JSON.parse((await readAll(info.stream)).toString('utf8')) as { udpChannelTcpPort: number | null }).udpChannelTcpPort ?? undefined;
      // Both asked at once: the bundle's round trip does not add to the session's start.
      const caFile = opts.caFile;
      [s.crl, s.ca] = await Promise.all([
        refreshTrust(() => s.fetchPem(PATH_CRL, 'CRL bundle'), socket, trust, opts, opts.via.host, where),
        caFile === undefined ? undefined : refreshBundle(() => s.fetchPem(PATH_CA, 'trust bundle'), { ...opts, caFile }, where),
      ]);
    } catch (err) {
      s.destroy();
      throw err;
    }
    return s;
  }

  /** The gateway's TCP port where SecSockets UDP channels are opened, if it takes UDP forwards. */
  udpChannelTcpPort: number | undefined;

  /** The CRL this session was trusted with, refreshed from the gateway if it had a newer one. */
  crl: string | undefined;

  /** The trust bundle the gateway handed out, if it replaced ours (only with opts.caFile). */
  ca: string | undefined;

  /** The gateway's CRL bundle or trust bundle (`path`), or undefined if it has none to hand out. */
  private async fetchPem(path: string, what: string): Promise<string | undefined> {
    let answer: OpenStream;
    try {
      answer = await this.request({ ':method': 'GET', ':path': path }, true);
    } catch (err) {
      if (err instanceof GatewayRefusedError && err.refusal.status === 404) return undefined;
      throw err;
    }
    // The answer came in time; the body must too, or a stalled one would hold the session's start.
    let late = false;
    const timer = setTimeout(() => {
      late = true;
      answer.stream.reset(MuxCode.CANCEL, `the ${what} came too slowly`);
    }, this.timeoutMs);
    const body = await readAll(answer.stream, MAX_PEM_BYTES + 1).finally(() => clearTimeout(timer));
    if (late) throw new ForwardError('INSEL_GATEWAY', `its ${what} did not arrive within ${this.timeoutMs} ms`);
    if (body.length > MAX_PEM_BYTES) throw new ForwardError('INSEL_GATEWAY', `its ${what} is larger than ${MAX_PEM_BYTES} bytes`);
    return body.toString('utf8');
  }

  /** Opens a forwarded TCP connection to host:port as seen from the gateway, once the gateway said yes. */
  connect(host: string, port: number, extra: MuxHeaders = {}): Promise<OpenStream> {
    return this.request(connectHeaders(host, port, extra), false);
  }

  /** Asks the gateway to listen (remote forward); the answer's body is one JSON line per connection. */
  listen(extra: MuxHeaders): Promise<OpenStream> {
    return this.request({ ':method': 'POST', ':path': PATH_LISTEN, ...extra }, true);
  }

  /** Takes pending remote connection `id`, or tells the gateway why we cannot. */
  accept(id: number, extra: MuxHeaders = {}, refuse?: string): Promise<OpenStream> {
    const h: MuxHeaders = { ':method': 'POST', ':path': PATH_ACCEPT, [H_CONN]: String(id), ...extra };
    if (refuse !== undefined) h[H_REFUSE] = refuse;
    return this.request(h, refuse !== undefined);
  }

  close(): void {
    this.mux.goaway(GOAWAY_NORMAL, 'the client closed the session');
  }

  /** Drops the session at once, open streams included. */
  destroy(): void {
    this.mux.destroy('the client dropped the session');
  }

  /** Sends a request and waits for its answer. */
  async request(headers: MuxHeaders, end: boolean): Promise<OpenStream> {
    const p = this.open(headers, end);
    return { stream: p.stream, headers: await p.answer };
  }

  /**
   * Sends a request at once: its stream takes data before the answer comes
   * (the gateway holds it within the window and drops it if it refuses).
   * On a refusal the stream is closed here.
   */
  open(headers: MuxHeaders, end: boolean): PendingStream {
    if (this.mux.closed) throw new ForwardError('INSEL_GATEWAY', `no session with the gateway: ${this.closeReason || 'closed'}`);
    const stream = this.mux.open(headers, { end });
    stream.on('error', () => undefined);
    const answer = new Promise<MuxHeaders>((resolve, reject) => {
      const timer = setTimeout(() => {
        stream.reset(MuxCode.CANCEL, 'no answer in time');
        reject(new ForwardError('INSEL_GATEWAY', `the gateway did not answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      const onReset = (code: number, reason: string) => {
        clearTimeout(timer);
        // The mux refuses an OPEN over a session limit (streams, OPENs per second) with REFUSED and why.
        if (code === MuxCode.REFUSED) reject(new GatewayRefusedError({ status: 429, code: 'INSEL_LIMIT', reason }));
        else reject(new ForwardError('INSEL_GATEWAY', `the gateway closed the stream before answering${reason ? `: ${reason}` : this.closeReason ? `: ${this.closeReason}` : ''}`));
      };
      const onClose = () => onReset(-1, '');
      stream.once('reset', onReset);
      stream.once('close', onClose);
      stream.once('response', (h: MuxHeaders) => {
        clearTimeout(timer);
        stream.off('reset', onReset);
        stream.off('close', onClose);
        const status = Number(h[':status']);
        if (status === 200) return resolve(h);
        stream.destroy();
        const refusal = { status, code: h[H_CODE] ?? 'INSEL_POLICY_DENIED', reason: h[H_REASON] ?? `status ${status}` };
        reject(new GatewayRefusedError(h[H_CAUSE] === undefined ? refusal : { ...refusal, cause: h[H_CAUSE] }));
      });
    });
    return { stream, answer };
  }
}

/** The request of a forwarded TCP connection to host:port. */
export function connectHeaders(host: string, port: number, extra: MuxHeaders = {}): MuxHeaders {
  return { ':method': 'CONNECT', ':authority': formatHostPort(host, port), ...extra };
}

/** A TLS connection to the gateway, handshake done and insel/1 agreed; failures as ForwardError INSEL_GATEWAY naming it. */
async function openTls(opts: SessionOptions, where: string, timeoutMs: number): Promise<TLSSocket> {
  try {
    // noDelay: small frames (OPEN, a new stream's first bytes) must not wait for Nagle.
    return await connectTls({ ...opts.via, identity: opts.identity, alpn: [MUX_ALPN], noDelay: true, timeoutMs, what: 'gateway' });
  } catch (err) {
    if (!(err instanceof TlsError)) throw err;
    const why = err.code === 'INSEL_TLS_PROTOCOL' ? `${where} is not an insel gateway (${err.reason})` : `cannot reach gateway ${where}: ${err.reason}`;
    throw new ForwardError('INSEL_GATEWAY', why, { peer: where, cause: err });
  }
}

/** Reads a stream to its end, keeping at most `max` bytes. */
export function readAll(stream: Duplex, max = 65536): Promise<Buffer> {
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
export function onJsonLines<T>(stream: Duplex, fn: (value: T) => void, maxLine = 65536): void {
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
