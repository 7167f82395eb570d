// Client end of UDP forwarding (`insel forward -U [bind:]port:host:hostport`,
// and the organization's `insel open` of a UDP service and calls, which name
// a service instead of host:port: OPEN_SERVICE): a local UDP port whose every
// distinct source (ip, port) is a flow; all flows share one SecSockets UDP
// channel to the gateway.
//
// Local → gateway:  datagram → flow by source (new: OPEN) → opening: queue (bounded)
//                                                         → open: DATA → one packet on
//                                                           the channel's datagram session
//                                                         → denied: drop
// Gateway → local:  (delivered synchronously by the channel, no promise per datagram)
//                   OPENED: flush the queue; DENIED: log, drop the queue;
//                   DATA: send to the flow's source; CLOSE: forget the flow
// One ticker repeats OPENs (every 250 ms, at most 8 times) and expires idle
// flows. If the channel dies, its flows are forgotten and it is reopened
// with backoff; new datagrams open new flows on the new channel. While the
// forwarder's session with the gateway is lost (suspend), there is no
// channel at all: it reopens with the session (resume).
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { SecChannel } from '../secsock/channel.js';
import { literalLookup } from '../secsock/datagram-socket.js';
import { UdpChannel } from '../secsock/udp-channel.js';
import { ForwardError } from '../forward/errors.js';
import { listenReason } from '../net/listen-reason.js';
import { FlowSender } from './sender.js';
import { encodeClose, encodeOpen, encodeOpenService, FlowType, readFlowMessage, serviceProblem, targetProblem } from './wire.js';

/** Where the flows go: host:port as the gateway resolves it, or a named service of the organization. */
export type UdpLocalTarget = { host: string; hostPort: number } | { service: string };

export type UdpLocalOptions = UdpLocalCommon & UdpLocalTarget;

interface UdpLocalCommon {
  /** Local address to listen on, e.g. 127.0.0.1. */
  bind: string;
  /** Local UDP port; 0 picks a free one (see `port`). */
  port: number;
  /** Opens a SecSockets UDP channel to the gateway (called again to reconnect). */
  openChannel: () => Promise<SecChannel>;
  /** A flow with no datagram either way for this long is closed at both ends. */
  idleMs: number;
  /** -v output, one line per event (never per datagram). */
  log?: (line: string) => void;
  /** The gateway closed a flow (the far end of a call left, the service went away), and why. */
  onFlowClosed?: (reason: string) => void;
}

export interface UdpLocalStats {
  flows: number;
  /** Datagrams received from local sources. */
  datagramsIn: number;
  /** Datagrams sent back to local sources. */
  datagramsOut: number;
  /** Datagrams (or gateway messages) that went nowhere: queue full, denied, no channel, malformed. */
  dropped: number;
  /** Flows the gateway denied. */
  denied: number;
}

export const OPEN_RETRY_MS = 250;
export const OPEN_TRIES = 8;
/** Datagrams held per flow until OPENED: enough for a DNS query and its retries, small enough to bound memory. */
export const OPEN_QUEUE = 16;
export const MAX_LOCAL_FLOWS = 1024;
const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 10_000;
/** Kernel buffers for bursts; the kernel caps them at rmem_max/wmem_max. */
const SOCKET_BUFFER = 4 * 1024 * 1024;

interface LocalFlow {
  readonly id: number;
  readonly address: string;
  readonly port: number;
  state: 'opening' | 'open' | 'denied';
  readonly queue: Buffer[];
  tries: number;
  nextTry: number;
  lastActive: number;
}

export class UdpLocalForward {
  /** Resolves with the first denial reason, if the gateway denies a flow. */
  readonly denial: Promise<string>;
  private resolveDenial!: (reason: string) => void;
  private denialSeen = false;
  private readonly byId = new Map<number, LocalFlow>();
  /** address → port → flow: no string built per datagram. */
  private readonly bySource = new Map<string, Map<number, LocalFlow>>();
  private readonly counts = { datagramsIn: 0, datagramsOut: 0, dropped: 0, denied: 0 };
  /** The channel to the gateway, while there is one. */
  private out: FlowSender | undefined;
  private nextId = 1;
  private backoff = RECONNECT_MIN_MS;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnecting = false;
  /** Why the channel is down on purpose (the session with the gateway is lost), until resume(). */
  private suspended: string | undefined;
  private readonly ticker: NodeJS.Timeout;
  private readonly log: (line: string) => void;
  private readonly target: string;
  private readonly openMessage: (flow: number) => Buffer;
  private closed = false;
  /** The time as of the last tick: datagrams are stamped with it, not with a clock read each. */
  private now = Date.now();
  private readonly dropped = () => void this.counts.dropped++;

  private constructor(
    private readonly socket: Socket,
    private readonly opts: UdpLocalOptions,
    ch: UdpChannel,
  ) {
    this.log = opts.log ?? (() => undefined);
    this.target = targetName(opts);
    this.openMessage = 'service' in opts ? (id) => encodeOpenService(id, opts.service, '') : (id) => encodeOpen(id, opts.host, opts.hostPort);
    this.denial = new Promise((resolve) => (this.resolveDenial = resolve));
    socket.on('message', (msg: Buffer, from: RemoteInfo) => this.onLocal(msg, from));
    // After bind, errors are per datagram (a local client gone away): count, never crash.
    socket.on('error', () => void this.counts.dropped++);
    this.ticker = setInterval(() => this.tick(Date.now()), Math.max(10, Math.min(OPEN_RETRY_MS / 2, Math.floor(opts.idleMs / 4))));
    this.ticker.unref();
    this.attach(ch);
  }

  /** Binds the local port, then opens the channel; either failing rejects (and releases the port). */
  static async start(opts: UdpLocalOptions): Promise<UdpLocalForward> {
    const problem = 'service' in opts ? serviceProblem(opts.service, '') : targetProblem(opts.host, opts.hostPort);
    if (problem !== undefined) throw new ForwardError('INSEL_FORWARD_BAD_TARGET', `cannot forward to ${targetName(opts)}: ${problem}`, { peer: targetName(opts) });
    if (!(opts.idleMs > 0)) throw new ForwardError('INSEL_FORWARD_OPTION', `idleMs must be a positive number of milliseconds, not ${opts.idleMs}`, { field: 'idleMs' });
    const socket = await bindLocal(opts.bind, opts.port);
    try {
      return new UdpLocalForward(socket, opts, checkUdp(await opts.openChannel()));
    } catch (err) {
      socket.close();
      throw err;
    }
  }

  get port(): number {
    return this.socket.address().port;
  }

  stats(): UdpLocalStats {
    return { flows: this.byId.size, ...this.counts };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.ticker);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const out = this.out;
    this.out = undefined;
    if (out !== undefined) {
      // Per-flow CLOSEs let the gateway log "client closed" rather than "channel closed".
      for (const f of this.byId.values()) if (f.state === 'open') out.message(encodeClose(f.id, 'forward stopped'));
      await out.ch.close('forward stopped').catch(() => undefined);
    }
    this.byId.clear();
    this.bySource.clear();
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }

  /**
   * The session with the gateway is lost (e.g. cut because our certificate
   * was revoked): closes the channel, forgets its flows, and opens no new
   * one until resume().
   */
  suspend(why: string): void {
    if (this.closed || this.suspended !== undefined) return;
    this.suspended = why;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const out = this.out;
    this.out = undefined;
    for (const f of [...this.byId.values()]) this.forget(f);
    if (out !== undefined) void out.ch.close('session with the gateway lost').catch(() => undefined);
    this.log(`udp forward ${this.target}: channel to the gateway closed, the session is lost (${why}); it reopens with the session`);
  }

  /** The session is back: reopens the channel now. */
  resume(): void {
    if (this.closed || this.suspended === undefined) return;
    this.suspended = undefined;
    this.backoff = RECONNECT_MIN_MS;
    if (!this.reconnecting) void this.reconnect();
  }

  private attach(ch: UdpChannel): void {
    const out = (this.out = new FlowSender(ch, this.dropped));
    if (ch.isClosed) return this.lost(out, undefined); // ended while we connected
    ch.once('close', (err?: Error) => this.lost(out, err));
    ch.deliverTo((m) => this.onGateway(m));
    for (const f of this.byId.values()) if (f.state === 'opening') this.sendOpen(f, Date.now()); // flows that waited for us
  }

  /** The channel ended: by the gateway, a dead path, or an error of ours in onGateway. */
  private lost(out: FlowSender, err: Error | undefined): void {
    if (this.closed || this.out !== out) return;
    const why = err !== undefined ? err.message : out.ch.peerCloseReason ? `closed by the gateway: ${out.ch.peerCloseReason}` : 'closed by the gateway';
    this.out = undefined;
    // Flow ids belong to the channel: the new one starts afresh.
    for (const f of [...this.byId.values()]) this.forget(f);
    this.log(`udp forward ${this.target}: channel to the gateway lost (${why}); reconnecting`);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, RECONNECT_MAX_MS);
    this.reconnectTimer = setTimeout(() => void this.reconnect(), delay);
  }

  private async reconnect(): Promise<void> {
    this.reconnectTimer = undefined;
    this.reconnecting = true;
    let ch: UdpChannel;
    try {
      ch = checkUdp(await this.opts.openChannel());
    } catch (err) {
      if (this.closed || this.suspended !== undefined) return;
      this.log(`udp forward ${this.target}: reconnecting failed (${(err as Error).message}); next try in ${this.backoff} ms`);
      this.scheduleReconnect();
      return;
    } finally {
      this.reconnecting = false;
    }
    if (this.closed || this.suspended !== undefined) {
      void ch.close(this.closed ? 'forward stopped' : 'session with the gateway lost').catch(() => undefined);
      return;
    }
    this.backoff = RECONNECT_MIN_MS;
    this.log(`udp forward ${this.target}: channel to the gateway reopened`);
    this.attach(ch);
  }

  private onLocal(msg: Buffer, from: RemoteInfo): void {
    this.counts.datagramsIn++;
    const now = this.now;
    let f = this.bySource.get(from.address)?.get(from.port);
    if (f === undefined) {
      if (this.byId.size >= MAX_LOCAL_FLOWS) {
        this.counts.dropped++;
        return;
      }
      f = this.create(from.address, from.port, now);
      this.sendOpen(f, now);
    }
    f.lastActive = now;
    switch (f.state) {
      case 'open':
        if (this.out === undefined) this.counts.dropped++;
        else this.out.data(f.id, msg);
        return;
      case 'opening':
        if (f.queue.length < OPEN_QUEUE) f.queue.push(msg);
        else this.counts.dropped++;
        return;
      case 'denied':
        this.counts.dropped++;
        return;
    }
  }

  private onGateway(buf: Buffer): void {
    const m = readFlowMessage(buf);
    if (m === undefined) {
      this.counts.dropped++;
      return;
    }
    const f = this.byId.get(m.flow);
    switch (m.type) {
      case FlowType.DATA:
        if (f === undefined || f.state !== 'open') {
          this.counts.dropped++; // a late reply to a flow that expired here; the gateway's idle timer ends it there
          return;
        }
        f.lastActive = this.now;
        this.counts.datagramsOut++;
        this.socket.send(m.body, f.port, f.address);
        return;
      case FlowType.OPENED:
        if (f === undefined || f.state !== 'opening') return; // a repeated answer
        f.state = 'open';
        this.log(`udp forward ${hostPort(f.address, f.port)} → ${this.target}: open (flow ${f.id})`);
        for (const d of f.queue) this.out?.data(f.id, d);
        f.queue.length = 0;
        return;
      case FlowType.DENIED:
        if (f === undefined || f.state !== 'opening') return;
        f.state = 'denied'; // kept until idle, so a chatty source does not send OPEN after OPEN
        this.counts.denied++;
        this.counts.dropped += f.queue.length;
        f.queue.length = 0;
        this.log(`udp forward ${hostPort(f.address, f.port)} → ${this.target}: denied by the gateway: ${m.reason}`);
        if (!this.denialSeen) {
          this.denialSeen = true;
          this.resolveDenial(m.reason);
        }
        return;
      case FlowType.CLOSE:
        if (f === undefined) return;
        this.log(`udp forward ${hostPort(f.address, f.port)} → ${this.target}: closed by the gateway${m.reason ? ` (${m.reason})` : ''}`);
        this.forget(f);
        this.opts.onFlowClosed?.(m.reason);
        return;
      default:
        this.counts.dropped++; // OPEN only goes to gateways
    }
  }

  private tick(now: number): void {
    this.now = now;
    for (const f of this.byId.values()) {
      if (now - f.lastActive > this.opts.idleMs) {
        if (f.state === 'open') this.out?.message(encodeClose(f.id, 'idle'));
        this.log(`udp forward ${hostPort(f.address, f.port)} → ${this.target}: idle for ${now - f.lastActive} ms, closed`);
        this.forget(f);
      } else if (f.state === 'opening' && this.out !== undefined && now >= f.nextTry) {
        if (f.tries < OPEN_TRIES) {
          this.sendOpen(f, now);
          continue;
        }
        this.log(`udp forward ${hostPort(f.address, f.port)} → ${this.target}: no answer from the gateway after ${OPEN_TRIES} OPENs; dropping ${f.queue.length} datagrams`);
        this.forget(f);
      }
    }
  }

  private create(address: string, port: number, now: number): LocalFlow {
    const f: LocalFlow = { id: this.nextId, address, port, state: 'opening', queue: [], tries: 0, nextTry: now, lastActive: now };
    this.nextId = this.nextId === 0xffffffff ? 1 : this.nextId + 1;
    this.byId.set(f.id, f);
    let ports = this.bySource.get(address);
    if (ports === undefined) this.bySource.set(address, (ports = new Map()));
    ports.set(port, f);
    return f;
  }

  /** Removes a flow here; what was still queued counts as dropped. */
  private forget(f: LocalFlow): void {
    this.counts.dropped += f.queue.length;
    f.queue.length = 0;
    this.byId.delete(f.id);
    const ports = this.bySource.get(f.address);
    ports?.delete(f.port);
    if (ports?.size === 0) this.bySource.delete(f.address);
  }

  private sendOpen(f: LocalFlow, now: number): void {
    if (this.out === undefined) return; // attach() sends it when the channel is back
    f.tries++;
    f.nextTry = now + OPEN_RETRY_MS;
    this.out.message(this.openMessage(f.id));
  }
}

function targetName(t: UdpLocalTarget): string {
  return 'service' in t ? t.service : hostPort(t.host, t.hostPort);
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The channel as a UDP channel; any other is closed and refused. */
export function checkUdp(ch: SecChannel): UdpChannel {
  if (ch instanceof UdpChannel) return ch;
  void ch.close('UDP forwarding needs a UDP channel').catch(() => undefined);
  throw new ForwardError('INSEL_FORWARD_NOT_UDP', `the channel to the gateway is ${ch.params.transport}; UDP forwarding needs a UDP channel (UDP is never carried inside TCP)`, { peer: ch.remote });
}

function bindLocal(bind: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const where = hostPort(bind, port);
    let s: Socket;
    try {
      // Replies go to the source addresses the kernel gave us: IP literals, sent without a lookup.
      s = createSocket({ type: isIPv6(bind) ? 'udp6' : 'udp4', recvBufferSize: SOCKET_BUFFER, sendBufferSize: SOCKET_BUFFER, lookup: literalLookup as never });
    } catch (err) {
      reject(new ForwardError('INSEL_FORWARD_BIND', `cannot listen on UDP ${where}: ${(err as Error).message}`, { peer: where, cause: err }));
      return;
    }
    s.once('error', (err: NodeJS.ErrnoException) => {
      const what = listenReason(err);
      try {
        s.close();
      } catch {
        // never bound
      }
      reject(new ForwardError('INSEL_FORWARD_BIND', `cannot listen on UDP ${where}: ${what}`, { peer: where, cause: err }));
    });
    s.bind(port, bind, () => {
      s.removeAllListeners('error');
      resolve(s);
    });
  });
}
