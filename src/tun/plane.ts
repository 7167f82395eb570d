// The IP tunnel's data plane: a typed wrapper over the addon's plane
// (native/plane.c, plane-io.c), which moves every packet between the TUN
// device and UDP in C on Node's own loop. This class only carries control:
// peers, keys, paths, settings, and the rare events the C side reports.
//
//   TUN → route → seal → sendmmsg  (or 'tcp': a sealed datagram for the TCP rung)
//   recvmmsg / input() → open → replay, epoch, path → TUN  (or 'control')
import { EventEmitter } from 'node:events';
import { addon, type PlaneHandle, type PlanePeerOptions, type PlaneStats } from '../native/addon.js';

export type { PlanePeerOptions, PlaneStats } from '../native/addon.js';

/** Datagram overhead: header 14 + inner header 2 + tag 16 (docs/PROTOCOL.md §3). */
export const PLANE_OVERHEAD = 32;

/** Inner kinds of the tunnel's datagrams (docs/PROTOCOL.md §3). */
export const TunKind = { DATA: 0, KEEPALIVE: 2, CLOSE: 3, PROBE: 4, PROBE_ACK: 5 } as const;

export interface PlaneInit {
  tunFd: number;
  udpFd: number;
  tap?: boolean;
  /** Largest TUN packet (TAP frame) carried; larger ones are dropped (too_big). */
  maxPacket: number;
  /** Packets per wake-up, 1..256 (default 64). */
  batch?: number;
  /** 0 = off: clamp TCP SYN MSS to this (IPv4) or this - 20 (IPv6), both directions. */
  mss?: number;
  clientToClient?: boolean;
  /** The TUN was opened with offload (openTun): reads carry a virtio_net_hdr, TCP super-packets are segmented in C. */
  offload?: boolean;
}

/** Where a peer's datagrams go: a UDP address, or the TCP rung (the 'tcp' event). */
export type PlanePath = { host: string; port: number } | 'tcp';

export interface PlaneEvents {
  /** An authentic non-DATA packet (KEEPALIVE, CLOSE, PROBE, ...); from is "host:port", "[v6]:port" or "tcp". */
  control: [peerId: number, kind: number, body: Buffer, from: string];
  /** The peer's next receive epoch became current: install a new next. */
  promoted: [peerId: number, epoch: number];
  /** The send path changed (follow mode: roaming, or UDP ↔ TCP). */
  path: [peerId: number, from: string];
  /** A sealed datagram to write to the TCP rung. */
  tcp: [peerId: number, datagram: Buffer];
  /** A datagram for an unknown channel id (at most 64/s): a static-key peer may be learned from it. */
  unknown: [channelId: number, datagram: Buffer, from: string];
  /** The TUN/TAP device failed (read error or end of file; the first argument is 0): the plane stopped reading it. */
  down: [zero: number, reason: string];
  /** A listener threw. */
  error: [err: Error];
}

/** "host:port" / "[v6]:port" / "tcp" as the events give it. */
export function parseFrom(from: string): PlanePath {
  if (from === 'tcp') return 'tcp';
  const at = from.lastIndexOf(':');
  const host = from.slice(0, at);
  return { host: host.startsWith('[') ? host.slice(1, -1) : host, port: Number(from.slice(at + 1)) };
}

export class Plane extends EventEmitter<PlaneEvents> {
  private readonly handle: PlaneHandle;
  private closed = false;

  constructor(init: PlaneInit) {
    super();
    this.handle = addon.planeCreate({
      tunFd: init.tunFd,
      udpFd: init.udpFd,
      tap: init.tap ?? false,
      maxPacket: init.maxPacket,
      batch: init.batch ?? 64,
      mss: init.mss ?? 0,
      clientToClient: init.clientToClient ?? false,
      offload: init.offload ?? false,
      onEvent: (type, peerId, a, b, c) => this.onEvent(type, peerId, a, b, c),
    });
  }

  private onEvent(type: string, peerId: number, a: unknown, b: unknown, c: unknown): void {
    try {
      // The C side sends exactly the arguments PlaneEvents lists for each type.
      (this.emit as (t: string, ...args: unknown[]) => boolean)(type, peerId, a, b, c);
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      if (type !== 'error' && this.listenerCount('error') > 0) this.emit('error', e);
      else process.emitWarning(e);
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  addPeer(peerId: number, o: PlanePeerOptions): void {
    addon.planeAddPeer(this.handle, peerId, o);
  }

  /** Forgets the peer and wipes its keys; an unknown id is no error. */
  removePeer(peerId: number): void {
    addon.planeRemovePeer(this.handle, peerId);
  }

  /** Sending moves to this epoch's key, from counterStart (static-key mode: a random start). */
  setSendKey(peerId: number, epoch: number, key: Buffer, iv: Buffer, counterStart = 0): void {
    addon.planeSetSendKey(this.handle, peerId, epoch, key, iv, counterStart);
  }

  /** Installs (or with null, drops) a receive slot's key; each key gets a fresh replay window. */
  setRecvKey(peerId: number, slot: 'prev' | 'cur' | 'next', epoch: number, key: Buffer | null, iv: Buffer | null = null): void {
    addon.planeSetRecvKey(this.handle, peerId, slot, epoch, key, iv);
  }

  setPath(peerId: number, path: PlanePath): void {
    addon.planeSetPath(this.handle, peerId, path);
  }

  setMss(mss: number): void {
    addon.planeSetMss(this.handle, mss);
  }

  setClientToClient(on: boolean): void {
    addon.planeSetClientToClient(this.handle, on);
  }

  /** Sends a non-DATA packet (padTo: zero-padded to a datagram of that size; forceUdp: UDP even on the TCP rung). */
  sendControl(peerId: number, kind: number, body: Buffer = Buffer.alloc(0), padTo = 0, forceUdp = false): boolean {
    return addon.planeSendControl(this.handle, peerId, kind, body, padTo, forceUdp);
  }

  /** A sealed datagram read from the TCP rung. */
  input(datagram: Buffer): void {
    addon.planeInput(this.handle, datagram);
  }

  stats(): PlaneStats;
  stats(peerId: number): PlaneStats | undefined;
  stats(peerId?: number): PlaneStats | undefined {
    return peerId === undefined ? addon.planeStats(this.handle) : addon.planeStats(this.handle, peerId);
  }

  /** Stops the plane and wipes every key; the fds stay open (their owner closes them). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    addon.planeClose(this.handle);
  }
}
