// Gateway end of UDP forwarding (`insel forward -U`): every accepted
// SecSockets UDP channel carries many flows; each flow gets its own UDP
// socket connected to the target, so replies find their way back to the
// client's local source and the target sees one source per flow.
//
// Channel → target:  (delivered synchronously by the channel, no promise per datagram)
//                    decode → flow table → OPEN: authorize, connect, OPENED | DENIED
//                                           OPEN_SERVICE: the service opener (org), OPENED | DENIED
//                                           ASSOCIATE: an association (SOCKS, association.ts), OPENED | DENIED
//                                           DATA: send on the flow's socket
//                                                 (unknown flow: drop, one CLOSE)
//                                           CLOSE: end the flow
// Target → channel:  flow target message (socket, or org relay) → DATA → one packet on the channel's datagram
//                    session (its bounded send queue full: dropped)
// One coarse ticker expires idle flows; nothing is timed per datagram.
import type { Identity } from '../pki/identity.js';
import type { SecChannel } from '../secsock/channel.js';
import { ChannelError } from '../secsock/errors.js';
import { UdpChannel } from '../secsock/udp-channel.js';
import type { RefusedChannel, SecServer } from '../secsock/server.js';
import { who, type Logger } from '../gateway/conn-log.js';
import type { Admission } from '../gateway/limits.js';
import { ForwardError } from '../forward/errors.js';
import { FlowSender } from './sender.js';
import { Association } from './association.js';
import { socketTarget, type FlowTarget, type ServiceOpener, type TargetEvents, type TargetVerdict } from './target.js';
import { encodeClose, encodeDenied, encodeDestDenied, encodeOpened, FlowType, readFlowMessage } from './wire.js';

/** `busy`: refused by a limit that passes (DNS lookups in flight), not by the policy: worth asking again soon. */
export type UdpAuthorize = (identity: Identity, host: string, port: number) => Promise<{ allow: true; address: string } | { allow: false; reason: string; busy?: boolean }>;

/** A reload's verdict on one flow: a string is a refusal. */
export type FlowCheck = (identity: Identity, host: string, port: number, address: string) => string | undefined;

/** The part of the gateway's logger that flows use. */
export type FlowLog = Pick<Logger, 'info' | 'warn'>;

export interface UdpGatewayOptions {
  server: SecServer;
  authorize: UdpAuthorize;
  /** A flow with no datagram either way for this long is closed at both ends. */
  idleMs: number;
  log: FlowLog;
  /** Flows open (or being authorized) per channel; OPENs beyond are denied. */
  maxFlowsPerChannel?: number;
  /** Flows that name a service (OPEN_SERVICE, the organization's relays); absent: they are denied. */
  openService?: ServiceOpener;
  /** The gateway's per-identity limits on channels and flows; absent: none beyond maxFlowsPerChannel. */
  take?: (identity: Identity, kind: 'udpChannels' | 'udpFlows') => Admission;
}

const UNLIMITED: Admission = { ok: true, release: () => undefined };

export interface UdpGatewayStats {
  channels: number;
  flows: number;
  /** SOCKS UDP associations among the flows, and the destinations they name. */
  associations: number;
  destinations: number;
  /** Datagrams from clients sent to targets. */
  datagramsIn: number;
  /** Datagrams from targets sent to clients. */
  datagramsOut: number;
  denied: number;
  /** Destinations of associations refused. */
  destinationsDenied: number;
  expired: number;
  /** Messages and datagrams dropped, by reason. */
  drops: Record<string, number>;
}

export const DEFAULT_MAX_FLOWS_PER_CHANNEL = 1024;
/** Unknown flows answered with CLOSE and denied flows remembered, per channel: bounds what a client can make us store. */
const REMEMBERED_FLOWS = 256;
const MAX_TICK_MS = 1_000;

type EndWhy = 'idle' | 'client closed' | 'target closed' | 'channel closed' | 'certificate refused' | 'policy reload' | 'error' | 'shutdown';

interface Flow {
  readonly id: number;
  /** the target host, or the service name of an OPEN_SERVICE (then port is 0) */
  readonly host: string;
  readonly port: number;
  /** OPEN_SERVICE's ticket; undefined for OPEN and ASSOCIATE */
  readonly ticket: string | undefined;
  /** ASSOCIATE's destinations, once open */
  association: Association | undefined;
  address: string;
  state: 'authorizing' | 'open' | 'closed';
  target: FlowTarget | undefined;
  readonly started: number;
  lastActive: number;
  up: number;
  upBytes: number;
  down: number;
  downBytes: number;
  lastError: string | undefined;
  /** gives back the identity's flow */
  readonly release: () => void;
  /** The reload generation its authorization started under (see recheck). */
  readonly generation: number;
}

interface Conn {
  readonly ch: UdpChannel;
  readonly out: FlowSender;
  readonly flows: Map<number, Flow>;
  /** Unknown flows we already sent a CLOSE for (FIFO, bounded). */
  readonly told: Set<number>;
  /** Denied flows and why, so a repeated OPEN gets the same answer without a second log line. */
  readonly denied: Map<number, string>;
  /** gives back the identity's channel */
  readonly release: () => void;
}

export class UdpGateway {
  private readonly server: SecServer;
  private readonly authorize: UdpAuthorize;
  private readonly idleMs: number;
  private readonly log: FlowLog;
  private readonly maxFlows: number;
  private readonly take: NonNullable<UdpGatewayOptions['take']>;
  private readonly openService: ServiceOpener | undefined;
  private readonly conns = new Set<Conn>();
  private readonly counts = { datagramsIn: 0, datagramsOut: 0, denied: 0, destinationsDenied: 0, expired: 0 };
  private readonly drops: Record<string, number> = {};
  private ticker: NodeJS.Timeout | undefined;
  private started = false;
  private closed = false;
  /** The time as of the last tick: datagrams are stamped with it, not with a clock read each. */
  private now = Date.now();
  /** Reloads so far, and the last one's check: a flow authorized across a reload is checked again. */
  private generation = 0;
  private lastCheck: FlowCheck | undefined;

  constructor(opts: UdpGatewayOptions) {
    if (opts.server.udpPort === undefined) {
      throw new ForwardError('INSEL_FORWARD_NOT_UDP', 'UDP forwarding needs a SecServer listening with transport udp: UDP is never carried inside TCP');
    }
    if (!(opts.idleMs > 0)) throw new ForwardError('INSEL_FORWARD_OPTION', `idleMs must be a positive number of milliseconds, not ${opts.idleMs}`, { field: 'idleMs' });
    const max = opts.maxFlowsPerChannel ?? DEFAULT_MAX_FLOWS_PER_CHANNEL;
    if (!Number.isInteger(max) || max < 1) throw new ForwardError('INSEL_FORWARD_OPTION', `maxFlowsPerChannel must be a positive integer, not ${max}`, { field: 'maxFlowsPerChannel' });
    this.server = opts.server;
    this.authorize = opts.authorize;
    this.idleMs = opts.idleMs;
    this.log = opts.log;
    this.maxFlows = max;
    this.take = opts.take ?? (() => UNLIMITED);
    this.openService = opts.openService;
  }

  /** Starts the accept loop over server.accept() and the idle ticker. */
  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.ticker = setInterval(() => this.tick(Date.now()), Math.max(10, Math.min(MAX_TICK_MS, Math.floor(this.idleMs / 4))));
    this.ticker.unref();
    void this.acceptLoop();
  }

  stats(): UdpGatewayStats {
    let flows = 0;
    let associations = 0;
    let destinations = 0;
    for (const c of this.conns) {
      flows += c.flows.size;
      for (const f of c.flows.values()) {
        if (f.association === undefined) continue;
        associations++;
        destinations += f.association.destinations;
      }
    }
    return { channels: this.conns.size, flows, associations, destinations, ...this.counts, drops: { ...this.drops } };
  }

  /**
   * SIGHUP, after the SecServer closed the channels a new CRL refuses
   * (SecServer.setTrust): stops serving those at once, ending all their
   * flows, and logs each. Returns how many it stopped.
   */
  dropRefused(refused: readonly RefusedChannel[]): number {
    let n = 0;
    for (const { channel, code, reason } of refused) {
      const c = [...this.conns].find((x) => x.ch === channel);
      if (c === undefined || !this.conns.delete(c)) continue;
      c.release();
      for (const f of c.flows.values()) this.end(c, f, 'certificate refused', reason);
      this.log.warn({ ...who(channel.peer), peer: channel.remote, channel: channel.params.channelId, code, reason }, 'udp channel cut');
      n++;
    }
    return n;
  }

  /**
   * SIGHUP: asks `check` about every open host:port flow; a string is a
   * refusal, and that flow is closed (the client gets a CLOSE with the
   * reason). An association's destinations are asked too: a refused one is
   * denied from now on. Returns how many were closed or denied. A flow still being authorized is
   * asked when its authorization completes. Service flows are the service
   * opener's to cut (the organization's revocations).
   */
  recheck(check: FlowCheck): number {
    this.generation++;
    this.lastCheck = check;
    let n = 0;
    for (const c of this.conns) {
      for (const f of c.flows.values()) {
        if (f.state !== 'open' || f.ticket !== undefined) continue;
        if (f.association !== undefined) {
          n += f.association.recheck((host, port, address) => check(c.ch.peer, host, port, address));
          continue;
        }
        const why = refusalBy(check, c.ch.peer, f);
        if (why === undefined) continue;
        this.end(c, f, 'policy reload', why, why);
        n++;
      }
    }
    return n;
  }

  /** Ends every flow and channel. The SecServer is the caller's to close. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ticker) clearInterval(this.ticker);
    const closing: Promise<void>[] = [];
    for (const c of this.conns) {
      for (const f of c.flows.values()) this.end(c, f, 'shutdown');
      c.release();
      closing.push(c.ch.close('gateway shutting down').catch(() => undefined));
    }
    this.conns.clear();
    await Promise.all(closing);
  }

  private async acceptLoop(): Promise<void> {
    while (!this.closed) {
      let ch: SecChannel;
      try {
        ch = await this.server.accept();
      } catch {
        return; // the server closed
      }
      if (this.closed) {
        void ch.close('gateway shutting down').catch(() => undefined);
        return;
      }
      if (!(ch instanceof UdpChannel)) {
        this.log.warn({ ...who(ch.peer), peer: ch.remote, reason: 'not a UDP channel' }, 'udp forward channel refused');
        void ch.close('UDP forwarding needs a UDP channel').catch(() => undefined);
        continue;
      }
      const slot = this.take(ch.peer, 'udpChannels');
      if (!slot.ok) {
        this.log.warn({ ...who(ch.peer), peer: ch.remote, code: slot.code, reason: slot.reason }, 'udp forward channel refused');
        void ch.close(slot.reason).catch(() => undefined);
        continue;
      }
      const c: Conn = { ch, out: new FlowSender(ch, this.dropSend), flows: new Map(), told: new Set(), denied: new Map(), release: slot.release };
      this.conns.add(c);
      if (ch.isClosed) {
        this.ended(c, undefined); // ended while it was accepted: nothing to deliver
        continue;
      }
      // A microtask later: SecServer.setTrust closes a refused channel first, then dropRefused ends it with the reason.
      ch.once('close', (err?: Error) => queueMicrotask(() => this.ended(c, err)));
      // Dropped by dropRefused: what it still sends goes nowhere.
      ch.deliverTo((m) => this.conns.has(c) && this.onMessage(c, m));
    }
  }

  /** The channel closed: by the client, a dead path, or (not a ChannelError) our bug in onMessage. */
  private ended(c: Conn, err: Error | undefined): void {
    if (!this.conns.delete(c)) return; // close() or dropRefused got there first
    c.release();
    const why: EndWhy = err === undefined || err instanceof ChannelError ? 'channel closed' : 'error';
    const detail = err?.message ?? c.ch.peerCloseReason;
    for (const f of c.flows.values()) this.end(c, f, why, detail);
  }

  private onMessage(c: Conn, buf: Buffer): void {
    const m = readFlowMessage(buf);
    if (m === undefined) return this.drop('malformed');
    switch (m.type) {
      case FlowType.DATA:
        return this.onData(c, m.flow, m.body);
      case FlowType.OPEN:
        return this.onOpen(c, m.flow, m.host, m.port, undefined);
      case FlowType.OPEN_SERVICE:
        return this.onOpen(c, m.flow, m.service, 0, m.ticket);
      case FlowType.ASSOCIATE:
        return this.onOpen(c, m.flow, ASSOCIATION, 0, undefined);
      case FlowType.CLOSE: {
        const f = c.flows.get(m.flow);
        if (f !== undefined) this.end(c, f, 'client closed', m.reason);
        return;
      }
      default:
        return this.drop('unexpected_type'); // OPENED and DENIED only go to clients
    }
  }

  private onData(c: Conn, id: number, body: Buffer): void {
    const f = c.flows.get(id);
    if (f === undefined || f.state !== 'open') {
      this.drop(f === undefined ? 'unknown_flow' : 'flow_not_open');
      // Tell the client once, so it reopens instead of sending into the void.
      if (f === undefined && !c.told.has(id)) {
        remember(c.told, id);
        this.send(c, encodeClose(id, c.denied.get(id) ?? 'unknown flow'));
      }
      return;
    }
    f.up++;
    f.upBytes += body.length;
    f.lastActive = this.now;
    this.counts.datagramsIn++;
    f.target!.send(body);
  }

  private onOpen(c: Conn, id: number, host: string, port: number, ticket: string | undefined): void {
    const f = c.flows.get(id);
    if (f !== undefined) {
      if (f.state === 'open') this.send(c, encodeOpened(id)); // our OPENED was lost
      return; // still authorizing: the answer is on its way
    }
    const earlier = c.denied.get(id);
    if (earlier !== undefined) return this.send(c, encodeDenied(id, earlier));
    if (c.flows.size >= this.maxFlows) return this.deny(c, id, host, port, `too many UDP flows on this channel (limit ${this.maxFlows})`);
    const slot = this.take(c.ch.peer, 'udpFlows');
    if (!slot.ok) return this.deny(c, id, host, port, slot.reason);
    const now = Date.now();
    const flow: Flow = {
      id,
      host,
      port,
      ticket,
      association: undefined,
      address: '',
      state: 'authorizing',
      target: undefined,
      started: now,
      lastActive: now,
      up: 0,
      upBytes: 0,
      down: 0,
      downBytes: 0,
      lastError: undefined,
      release: slot.release,
      generation: this.generation,
    };
    c.flows.set(id, flow);
    c.told.delete(id);
    void this.open(c, flow);
  }

  private async open(c: Conn, f: Flow): Promise<void> {
    const events: TargetEvents = {
      message: (msg) => {
        if (f.state !== 'open') return this.drop('flow_not_open');
        f.down++;
        f.downBytes += msg.length;
        f.lastActive = this.now;
        this.counts.datagramsOut++;
        c.out.data(f.id, msg);
      },
      error: (err) => {
        f.lastError = err.message;
        this.drop('target_error');
      },
      ended: (reason) => this.end(c, f, 'target closed', reason, reason),
    };
    let verdict: TargetVerdict;
    try {
      if (f.ticket !== undefined) verdict = await this.serviceVerdict(c.ch.peer, f.host, f.ticket, events);
      else if (f.port === 0) verdict = { allow: true, target: (f.association = this.associate(c, f, events)), address: '' };
      else verdict = await this.openHost(c.ch.peer, f.host, f.port, events);
    } catch (err) {
      verdict = { allow: false, reason: `authorization failed: ${(err as Error).message}` };
    }
    if (f.state !== 'authorizing') {
      if (verdict.allow) verdict.target.close(); // the client or channel went away meanwhile
      return;
    }
    if (!verdict.allow) {
      this.forget(c, f);
      return this.deny(c, f.id, f.host, f.port, verdict.reason);
    }
    f.address = verdict.address;
    // A reload came while this flow was being authorized: the verdict must be the new policy's.
    const lateRefusal = f.generation === this.generation || f.ticket !== undefined || f.association !== undefined ? undefined : refusalBy(this.lastCheck!, c.ch.peer, f);
    if (lateRefusal !== undefined) {
      verdict.target.close();
      this.forget(c, f);
      return this.deny(c, f.id, f.host, f.port, lateRefusal);
    }
    f.target = verdict.target;
    f.state = 'open';
    f.lastActive = Date.now();
    this.send(c, encodeOpened(f.id));
  }

  /** OPEN: the gateway's policy, then a socket connected to the address it allowed. */
  private async openHost(identity: Identity, host: string, port: number, events: TargetEvents): Promise<TargetVerdict> {
    const v = await this.authorize(identity, host, port);
    if (!v.allow) return v;
    try {
      return { allow: true, target: await socketTarget(v.address, port, events), address: v.address };
    } catch (err) {
      return { allow: false, reason: `cannot reach ${v.address}:${port}: ${(err as Error).message}` };
    }
  }

  /** ASSOCIATE: the gateway's policy on each destination, as the client names them. */
  private associate(c: Conn, f: Flow, events: TargetEvents): Association {
    const identity = c.ch.peer;
    return new Association({
      events,
      idleMs: this.idleMs,
      authorize: (host, port) => this.authorize(identity, host, port),
      drop: this.dropSend,
      denied: (to, reason) => {
        this.counts.destinationsDenied++;
        this.log.warn({ ...who(identity), peer: c.ch.remote, channel: c.ch.params.channelId, flow: f.id, to, reason }, 'udp destination denied');
        this.send(c, encodeDestDenied(f.id, `${to}: ${reason}`));
      },
    });
  }

  private serviceVerdict(identity: Identity, service: string, ticket: string, events: TargetEvents): Promise<TargetVerdict> {
    if (this.openService === undefined) return Promise.resolve({ allow: false, reason: 'this gateway serves no named services (it is not a site of an organization)' });
    return this.openService(identity, service, ticket, events);
  }

  /** Takes a flow out of its channel and gives back the identity's flow. */
  private forget(c: Conn, f: Flow): void {
    f.state = 'closed';
    c.flows.delete(f.id);
    f.release();
  }

  private deny(c: Conn, id: number, host: string, port: number, reason: string): void {
    this.counts.denied++;
    if (c.denied.size >= REMEMBERED_FLOWS) c.denied.delete(c.denied.keys().next().value!);
    c.denied.set(id, reason);
    const p = c.ch.peer;
    this.log.warn({ ...who(p), peer: c.ch.remote, channel: c.ch.params.channelId, flow: id, to: flowTo(host, port), reason }, 'udp flow denied');
    this.send(c, encodeDenied(id, reason));
  }

  /** Ends a flow once: closes its socket, tells the client if `notify`, logs one line if it was open. */
  private end(c: Conn, f: Flow, why: EndWhy, detail = '', notify?: string): void {
    if (f.state === 'closed') return;
    const wasOpen = f.state === 'open';
    this.forget(c, f);
    f.target?.close();
    if (notify !== undefined) this.send(c, encodeClose(f.id, notify));
    if (!wasOpen) return;
    const p = c.ch.peer;
    this.log.info(
      {
        ...who(p),
        peer: c.ch.remote,
        channel: c.ch.params.channelId,
        flow: f.id,
        to: flowTo(f.host, f.port),
        address: f.address,
        datagramsUp: f.up,
        bytesUp: f.upBytes,
        datagramsDown: f.down,
        bytesDown: f.downBytes,
        durationMs: Date.now() - f.started,
        why,
        reason: detail || undefined,
        error: f.lastError,
      },
      'udp flow ended',
    );
  }

  private send(c: Conn, msg: Buffer): void {
    c.out.message(msg);
  }

  private tick(now: number): void {
    this.now = now;
    for (const c of this.conns) {
      for (const f of c.flows.values()) {
        f.association?.tick(now);
        if (f.state !== 'open' || now - f.lastActive <= this.idleMs) continue;
        this.counts.expired++;
        this.end(c, f, 'idle', '', 'idle');
      }
    }
  }

  private drop(reason: string): void {
    this.drops[reason] = (this.drops[reason] ?? 0) + 1;
  }

  private readonly dropSend = (reason: string) => this.drop(reason);
}

/** The host of an association's flow in logs: it has no single destination. */
const ASSOCIATION = 'socks-udp-association';

/** `check`'s verdict on a flow; a check that throws refuses rather than leaves the flow open. */
function refusalBy(check: FlowCheck, identity: Identity, f: Flow): string | undefined {
  try {
    return check(identity, f.host, f.port, f.address);
  } catch (err) {
    return `policy check failed: ${(err as Error).message}`;
  }
}

function remember(set: Set<number>, id: number): void {
  if (set.size >= REMEMBERED_FLOWS) set.delete(set.values().next().value!);
  set.add(id);
}

/** host:port, or the service name of a service flow (port 0). */
function flowTo(host: string, port: number): string {
  return port === 0 ? host : `${host}:${port}`;
}
