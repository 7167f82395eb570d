// -D: a local SOCKS5 proxy (RFC 1928, RFC 1929) whose every CONNECT becomes
// one stream of the gateway session, exactly like -L with the target from
// the request (names travel unresolved: no DNS lookup here, no DNS leak),
// and whose UDP ASSOCIATE becomes one association over a SecSockets UDP
// channel (associate.ts). The gateway's policy decides every target; its
// refusals come back as SOCKS reply codes, and its reason goes to the log.
//
// accept → handshake (deadline, bounded) → CONNECT: stream OPEN, wait for the answer, reply, join
//                                        → UDP ASSOCIATE: UdpAssociation, reply with its relay address
//                                        → BIND, anything else: reply 0x07
import type { Socket } from 'node:net';
import type { SecChannel } from '../secsock/channel.js';
import { describeEnd, type ForwardContext } from '../forward/context.js';
import { join } from '../forward/join.js';
import { Listener, ListeningForward } from '../forward/listen.js';
import { connectHeaders, cutReason, GatewayRefusedError } from '../forward/session.js';
import type { ForwardSpec } from '../forward/spec.js';
import { formatHostPort } from '../net/host-port.js';
import { SummaryLog } from '../net/summary-log.js';
import { UdpAssociation, type AssociationStats } from './associate.js';
import { handshake, HandshakeFailed, type SocksCredentials } from './handshake.js';
import { Command, encodeReply, Reply } from './messages.js';

export interface DynamicOptions {
  /** RFC 1929 username/password every client must give; absent: no authentication. */
  auth?: SocksCredentials;
  /** Opens a SecSockets UDP channel to the gateway for an association; undefined: the gateway takes no UDP (or there is no session), UDP ASSOCIATE is refused. */
  udpChannel: () => Promise<SecChannel> | undefined;
}

/** From accept to a complete request. */
export const HANDSHAKE_MS = 10_000;
/** Connections still in their handshake at once; beyond, new ones are closed at once. */
export const MAX_HANDSHAKES = 64;
/** How long a refused connection may take to close its side. */
const LINGER_MS = 2_000;
/** UDP associations open at once per -D (each holds a UDP socket here and a channel to the gateway). */
export const MAX_ASSOCIATIONS = 16;

const REPLY_TEXT: Record<number, string> = {
  [Reply.GENERAL_FAILURE]: 'general failure',
  [Reply.NOT_ALLOWED]: 'not allowed by ruleset',
  [Reply.NETWORK_UNREACHABLE]: 'network unreachable',
  [Reply.HOST_UNREACHABLE]: 'host unreachable',
  [Reply.CONNECTION_REFUSED]: 'connection refused',
  [Reply.TTL_EXPIRED]: 'TTL expired',
  [Reply.COMMAND_NOT_SUPPORTED]: 'command not supported',
};

export class DynamicForward extends ListeningForward {
  private readonly associations = new Set<UdpAssociation>();
  private handshakes = 0;
  /** ASSOCIATE requests whose association is being opened. */
  private associating = 0;
  /** Failed and refused handshakes, summed: one warn line per interval at most. */
  private readonly unauth: SummaryLog;
  private readonly totals: AssociationStats = { datagramsIn: 0, datagramsOut: 0, dropped: 0, fragments: 0, destinationsDenied: 0 };

  private constructor(
    readonly spec: ForwardSpec,
    listener: Listener,
    private readonly ctx: ForwardContext,
    private readonly opts: DynamicOptions,
  ) {
    super(listener);
    this.unauth = new SummaryLog({ warn: (fields, msg) => ctx.warn(`-D ${listener.port}: ${msg}: ${JSON.stringify(fields)}`) }, 'SOCKS handshakes failed or refused');
  }

  static async start(spec: ForwardSpec, ctx: ForwardContext, opts: DynamicOptions): Promise<DynamicForward> {
    let self: DynamicForward | undefined;
    const listener = await Listener.open(spec.bind, spec.port, `-D ${spec.text}`, (socket) => void self?.onConnection(socket));
    self = new DynamicForward(spec, listener, ctx, opts);
    return self;
  }

  get line(): string {
    return `forward -D ${formatHostPort(this.spec.bind, this.port)} (SOCKS5${this.opts.auth === undefined ? '' : ', username/password'})`;
  }

  /** UDP counters of every association so far, closed ones included. */
  stats(): AssociationStats & { associations: number } {
    const s = { ...this.totals, associations: this.associations.size };
    for (const a of this.associations) for (const [k, v] of Object.entries(a.stats())) s[k as keyof AssociationStats] += v;
    return s;
  }

  override close(): void {
    super.close();
    this.unauth.flush();
    for (const a of this.associations) a.close('forward stopped');
  }

  private async onConnection(socket: Socket): Promise<void> {
    const from = formatHostPort(socket.remoteAddress ?? '?', socket.remotePort ?? 0);
    const label = `-D ${this.port}: ${from}`;
    socket.on('error', () => undefined);
    const source = unmapped(socket.remoteAddress ?? '?');
    if (this.handshakes >= MAX_HANDSHAKES) {
      this.unauth.count('capped', source, `${MAX_HANDSHAKES} connections were still in their SOCKS handshake`);
      return void socket.destroy();
    }
    this.track(socket);
    this.handshakes++;
    let request;
    try {
      request = await handshake(socket, this.opts.auth, HANDSHAKE_MS);
    } catch (err) {
      if (!(err instanceof HandshakeFailed)) throw err;
      // Anyone who reaches the port can cause these: counted, one line per interval with the commonest reasons.
      this.unauth.count('failed', source, err.message);
      return finish(socket);
    } finally {
      this.handshakes--;
    }
    const target = formatHostPort(request.address.host, request.address.port);
    switch (request.command) {
      case Command.CONNECT:
        return this.connect(socket, request.address.host, request.address.port, request.rest, `${label} -> ${target}`);
      case Command.UDP_ASSOCIATE:
        return this.associate(socket, request.address.port, `${label} udp`);
      default:
        this.ctx.warn(`${label}: refused: SOCKS command ${request.command}${request.command === Command.BIND ? ' (BIND)' : ''} is not supported; CONNECT and UDP ASSOCIATE are`);
        return this.refuse(socket, Reply.COMMAND_NOT_SUPPORTED);
    }
  }

  private async connect(socket: Socket, host: string, port: number, rest: Buffer, label: string): Promise<void> {
    const started = Date.now();
    const session = this.ctx.session();
    if (session === undefined) {
      this.ctx.warn(`${label}: refused (reply 0x01 general failure): no session with the gateway`);
      return this.refuse(socket, Reply.GENERAL_FAILURE);
    }
    let pending;
    try {
      pending = session.open(connectHeaders(host, port), false);
    } catch (err) {
      this.ctx.warn(`${label}: refused (reply 0x01 general failure): ${(err as Error).message}`);
      return this.refuse(socket, Reply.GENERAL_FAILURE);
    }
    pending.stream.on('reset', (code: number, reason: string) => {
      const cut = cutReason(code, reason);
      if (cut !== undefined) this.ctx.warn(`${label}: closed by the gateway: ${cut}`);
    });
    try {
      await pending.answer;
    } catch (err) {
      const reply = replyFor(err as Error);
      this.ctx.warn(`${label}: refused (reply 0x0${reply} ${REPLY_TEXT[reply]}): ${(err as Error).message}`);
      return this.refuse(socket, reply);
    }
    // The reply's BND is 0.0.0.0:0: the gateway's own address is not the client's business.
    socket.write(encodeReply(Reply.SUCCEEDED));
    if (rest.length > 0) socket.unshift(rest);
    const r = await join(pending.stream, socket, 'client').done;
    this.ctx.verbose(`${label}: ${describeEnd(Date.now() - started, r.up, r.down, r.end)}`);
  }

  private async associate(socket: Socket, clientPort: number, label: string): Promise<void> {
    if (this.ctx.session() === undefined) {
      this.ctx.warn(`${label}: refused (reply 0x01 general failure): no session with the gateway`);
      return this.refuse(socket, Reply.GENERAL_FAILURE);
    }
    if (this.associations.size + this.associating >= MAX_ASSOCIATIONS) {
      this.ctx.warn(`${label}: refused (reply 0x01 general failure): ${MAX_ASSOCIATIONS} UDP associations are open on this -D`);
      return this.refuse(socket, Reply.GENERAL_FAILURE);
    }
    const channel = this.opts.udpChannel();
    if (channel === undefined) {
      this.ctx.warn(`${label}: refused (reply 0x07 command not supported): the gateway takes no UDP (its config has no udp_listen)`);
      return this.refuse(socket, Reply.COMMAND_NOT_SUPPORTED);
    }
    let a: UdpAssociation;
    this.associating++;
    try {
      a = await UdpAssociation.start({
        bind: this.spec.bind,
        client: { address: unmapped(socket.remoteAddress ?? ''), port: clientPort },
        channel,
        log: (line) => this.ctx.warn(`${label}: ${line}`),
        verbose: (line) => this.ctx.verbose(`${label}: ${line}`),
      });
    } catch (err) {
      const reply = replyFor(err as Error);
      this.ctx.warn(`${label}: refused (reply 0x0${reply} ${REPLY_TEXT[reply]}): ${(err as Error).message}`);
      return this.refuse(socket, reply);
    } finally {
      this.associating--;
    }
    this.associations.add(a);
    // The relay listens where the -D does; the client reached us at the TCP connection's local address (a wildcard bind has no other).
    socket.write(encodeReply(Reply.SUCCEEDED, unmapped(socket.localAddress ?? a.address), a.port));
    // Read (and drop) what the connection carries, so its end is seen.
    socket.on('data', () => undefined);
    socket.once('end', () => socket.destroy());
    socket.resume();
    this.ctx.verbose(`${label}: associated, relay at ${formatHostPort(a.address, a.port)}`);
    // RFC 1928 §7: the association ends with its TCP connection; and the connection with the association.
    const why = await Promise.race([
      new Promise<string>((resolve) => socket.once('close', () => resolve('the client closed its SOCKS connection'))),
      a.ended,
    ]);
    a.close(why);
    socket.destroy();
    this.associations.delete(a);
    for (const [k, v] of Object.entries(a.stats())) this.totals[k as keyof AssociationStats] += v;
    this.ctx.verbose(`${label}: association ended: ${why}`);
  }

  private refuse(socket: Socket, reply: number): void {
    finish(socket, encodeReply(reply));
  }
}

/**
 * Ends a connection we are done with: our last bytes and FIN, then its
 * end is read (a paused socket never sees the peer's FIN, and with
 * allowHalfOpen it would stay open), and a peer that has not closed (or
 * keeps writing) by LINGER_MS is cut.
 */
function finish(socket: Socket, last?: Buffer): void {
  if (last === undefined) socket.end();
  else socket.end(last);
  socket.on('data', () => undefined);
  socket.resume();
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  socket.once('close', () => clearTimeout(timer));
}

/** An IPv4 address as a dual-stack socket reports it (::ffff:a.b.c.d) in its own form. */
function unmapped(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** The SOCKS reply for a gateway refusal (or any other failure to open). */
export function replyFor(err: Error): number {
  if (!(err instanceof GatewayRefusedError)) return Reply.GENERAL_FAILURE;
  const { code, status, cause } = err.refusal;
  if (code === 'INSEL_POLICY_DENIED') return Reply.NOT_ALLOWED;
  if (status === 504 || cause === 'timeout') return Reply.TTL_EXPIRED;
  if (code === 'INSEL_UNKNOWN_HOST') return Reply.HOST_UNREACHABLE;
  if (code !== 'INSEL_UNREACHABLE') return Reply.GENERAL_FAILURE;
  if (cause === 'refused') return Reply.CONNECTION_REFUSED;
  if (cause === 'network-unreachable') return Reply.NETWORK_UNREACHABLE;
  return Reply.HOST_UNREACHABLE;
}
