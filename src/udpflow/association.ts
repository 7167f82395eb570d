// Gateway end of a SOCKS5 UDP association (ASSOCIATE, insel forward -D):
// one flow, many destinations, one unconnected UDP socket per address
// family, so 10,000 destinations cost 10,000 table entries, not 10,000
// sockets. The client names each datagram's destination (names
// unresolved); the gateway's policy decides each destination once, and
// replies are taken only from a destination it allowed (restricted cone),
// carrying their source back in the same address form.
//
// Client → target:  addressed DATA → destination table → allowed: send from our socket
//                                                      → authorizing: queue (bounded)
//                                                      → denied: drop, counted
//                                   → new: authorize (≤ AUTHORIZING at a time), queue
// Target → client:  socket message → allowed destination by (address, port) → addressed DATA
//                                  → anyone else: drop, counted
// The gateway's ticker expires idle destinations; a reload re-checks them.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { formatHostPort } from '../net/host-port.js';
import { literalLookup } from '../secsock/datagram-socket.js';
import { encodedAddressLength, readAddress, writeAddress } from '../socks/address.js';
import { SocksError } from '../socks/errors.js';
import type { FlowTarget, TargetEvents } from './target.js';

/** The gateway's verdict on one destination: allowed at an address, or refused with a reason (`busy`: by a passing limit, asked again on the next datagram). */
export type DestinationAuthorize = (host: string, port: number) => Promise<{ allow: true; address: string } | { allow: false; reason: string; busy?: boolean }>;

/** A reload's verdict on one allowed destination: a string is a refusal. */
export type DestinationCheck = (host: string, port: number, address: string) => string | undefined;

export interface AssociationOptions {
  authorize: DestinationAuthorize;
  events: TargetEvents;
  /** A message dropped, by reason (the gateway's drop counters). */
  drop: (reason: string) => void;
  /** A destination refused (policy, limit), once per refusal: the gateway logs it and tells the client (DEST_DENIED). */
  denied: (to: string, reason: string) => void;
  /** Destinations idle this long are forgotten (a denied one is asked again after it). */
  idleMs: number;
  maxDestinations?: number;
}

/** Destinations one association may name at once: table entries, not sockets. */
export const MAX_DESTINATIONS = 16384;
/** Authorizations (policy, DNS) in flight per association; the rest wait in line. */
const AUTHORIZING = 16;
/** Datagrams held per destination while it is authorized, and bytes per association. */
const QUEUE_PER_DESTINATION = 4;
const QUEUE_BYTES = 1 << 20;
/** A reply socket's kernel buffer: bursts of replies wait there while the event loop is busy. */
const SOCKET_BUFFER = 4 * 1024 * 1024;

interface Destination {
  readonly host: string;
  readonly port: number;
  state: 'waiting' | 'authorizing' | 'allowed' | 'denied' | 'gone';
  address: string;
  readonly queue: Buffer[];
  lastActive: number;
  /** The reload generation its authorization started under. */
  generation: number;
}

export class Association implements FlowTarget {
  /** host → port → destination: no string built per datagram. */
  private readonly byName = new Map<string, Map<number, Destination>>();
  /** allowed destinations by the address they were resolved to: where replies may come from */
  private readonly byAddress = new Map<string, Map<number, Destination>>();
  private readonly line: Destination[] = [];
  private authorizing = 0;
  private queuedBytes = 0;
  private count = 0;
  private v4: Socket | undefined;
  private v6: Socket | undefined;
  private closed = false;
  private now = Date.now();
  private generation = 0;
  private lastCheck: DestinationCheck | undefined;
  private readonly max: number;

  constructor(private readonly opts: AssociationOptions) {
    this.max = opts.maxDestinations ?? MAX_DESTINATIONS;
  }

  /** Destinations named now (any state). */
  get destinations(): number {
    return this.count;
  }

  send(body: Buffer): void {
    if (this.closed) return;
    let to;
    try {
      to = readAddress(body, 0);
    } catch (err) {
      if (!(err instanceof SocksError)) throw err;
    }
    if (to === undefined || to.address.port === 0) return this.opts.drop('bad_address');
    const { host, port } = to.address;
    let d = this.byName.get(host)?.get(port);
    if (d === undefined) {
      if (this.count >= this.max) return this.opts.drop('too_many_destinations');
      d = this.create(host, port);
    }
    d.lastActive = this.now;
    const payload = body.subarray(to.end);
    switch (d.state) {
      case 'allowed':
        return this.socketFor(d.address).send(payload, port, d.address);
      case 'denied':
        return this.opts.drop('destination_denied');
      case 'gone':
        return; // not reached: a forgotten destination is no longer in the table
      default:
        if (d.queue.length >= QUEUE_PER_DESTINATION || this.queuedBytes + payload.length > QUEUE_BYTES) return this.opts.drop('queue_full');
        // A copy: the channel's buffer is reused after this call returns.
        d.queue.push(Buffer.from(payload));
        this.queuedBytes += payload.length;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.v4?.close();
    this.v6?.close();
    this.byName.clear();
    this.byAddress.clear();
    this.line.length = 0;
  }

  /** The gateway's coarse tick: forgets destinations idle (or denied) for idleMs. */
  tick(now: number): void {
    this.now = now;
    for (const ports of this.byName.values()) {
      for (const d of ports.values()) if (d.state !== 'authorizing' && now - d.lastActive > this.opts.idleMs) this.forget(d);
    }
  }

  /** A reload: every allowed destination is asked again; a refused one is denied from now on. */
  recheck(check: DestinationCheck): number {
    this.generation++;
    this.lastCheck = check;
    let n = 0;
    for (const ports of this.byName.values()) {
      for (const d of ports.values()) {
        if (d.state !== 'allowed') continue;
        const why = refusal(check, d);
        if (why === undefined) continue;
        this.unroute(d);
        this.deny(d, why);
        n++;
      }
    }
    return n;
  }

  private create(host: string, port: number): Destination {
    const d: Destination = { host, port, state: 'waiting', address: '', queue: [], lastActive: this.now, generation: this.generation };
    let ports = this.byName.get(host);
    if (ports === undefined) this.byName.set(host, (ports = new Map()));
    ports.set(port, d);
    this.count++;
    this.line.push(d);
    this.pump();
    return d;
  }

  /** Starts waiting authorizations while fewer than AUTHORIZING run. */
  private pump(): void {
    while (this.authorizing < AUTHORIZING && this.line.length > 0) {
      const d = this.line.shift()!;
      if (d.state !== 'waiting') continue; // forgotten while it waited
      d.state = 'authorizing';
      d.generation = this.generation;
      this.authorizing++;
      void this.decide(d);
    }
  }

  private async decide(d: Destination): Promise<void> {
    let v;
    try {
      v = await this.opts.authorize(d.host, d.port);
    } catch (err) {
      v = { allow: false as const, reason: `authorization failed: ${(err as Error).message}` };
    }
    this.authorizing--;
    if (this.closed) return;
    this.pump();
    if (d.state !== 'authorizing') return; // forgotten meanwhile
    if (!v.allow && v.busy === true) {
      // Not the policy's answer: drop what waited and forget it, so its next datagram asks again.
      for (let i = 0; i < d.queue.length; i++) this.opts.drop('authorize_busy');
      return this.forget(d);
    }
    if (!v.allow) return this.deny(d, v.reason);
    d.address = v.address;
    // A reload came while this destination was being authorized: the new policy decides.
    const late = d.generation === this.generation ? undefined : refusal(this.lastCheck!, d);
    if (late !== undefined) return this.deny(d, late);
    d.state = 'allowed';
    let ports = this.byAddress.get(d.address);
    if (ports === undefined) this.byAddress.set(d.address, (ports = new Map()));
    ports.set(d.port, d);
    const socket = this.socketFor(d.address);
    for (const q of d.queue) socket.send(q, d.port, d.address);
    this.unqueue(d);
  }

  private deny(d: Destination, reason: string): void {
    d.state = 'denied';
    d.lastActive = this.now; // asked again once idle for idleMs
    for (let i = 0; i < d.queue.length; i++) this.opts.drop('destination_denied');
    this.unqueue(d);
    this.opts.denied(formatHostPort(d.host, d.port), reason);
  }

  private unqueue(d: Destination): void {
    for (const q of d.queue) this.queuedBytes -= q.length;
    d.queue.length = 0;
  }

  private forget(d: Destination): void {
    if (d.state === 'allowed') this.unroute(d);
    this.unqueue(d);
    d.state = 'gone';
    const ports = this.byName.get(d.host);
    if (ports?.get(d.port) === d) {
      ports.delete(d.port);
      if (ports.size === 0) this.byName.delete(d.host);
      this.count--;
    }
  }

  private unroute(d: Destination): void {
    const ports = this.byAddress.get(d.address);
    if (ports?.get(d.port) !== d) return;
    ports.delete(d.port);
    if (ports.size === 0) this.byAddress.delete(d.address);
  }

  private onReply(msg: Buffer, from: RemoteInfo): void {
    const d = this.byAddress.get(from.address)?.get(from.port);
    if (d === undefined) return this.opts.drop('unknown_source');
    d.lastActive = this.now;
    const head = encodedAddressLength(from.address);
    const out = Buffer.allocUnsafe(head + msg.length);
    writeAddress(out, 0, from.address, from.port);
    msg.copy(out, head);
    this.opts.events.message(out);
  }

  /** The socket for an address's family, made on first use. */
  private socketFor(address: string): Socket {
    if (isIPv6(address)) return (this.v6 ??= this.open('udp6'));
    return (this.v4 ??= this.open('udp4'));
  }

  private open(type: 'udp4' | 'udp6'): Socket {
    // Destinations are IP literals the policy allowed: sent without a lookup, synchronously.
    const s = createSocket({ type, recvBufferSize: SOCKET_BUFFER, sendBufferSize: SOCKET_BUFFER, lookup: literalLookup as never });
    s.on('message', (msg, from) => this.onReply(msg, from));
    // Per-datagram errors (ICMP unreachable on a send): remembered for the end-of-flow line, the association stays.
    s.on('error', (err) => this.opts.events.error(err));
    s.bind(0);
    return s;
  }
}

function refusal(check: DestinationCheck, d: Destination): string | undefined {
  try {
    return check(d.host, d.port, d.address);
  } catch (err) {
    return `policy check failed: ${(err as Error).message}`;
  }
}
