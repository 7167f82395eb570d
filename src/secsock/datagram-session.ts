// A datagram session: one UDP channel's keys and packets, beneath the message
// channel (udp-channel.ts) and the UDP flows of `insel forward -U`; the IP
// tunnel sends its packets through it too. It holds the keys of the current,
// previous and next epoch with a replay window each, rekeys, follows a
// roaming client, sends keepalives and notices a dead peer. Nothing here
// allocates a promise or closure per packet or reads the system clock per
// packet (the endpoint's ticker keeps a coarse `now`).
//
// Send:    rekey if due → pool buffer (none free: dropped, false) → header
//          (epoch, channel, counter) → AEAD seal in place → socket, synchronously.
// Receive: (the endpoint checked length, type, channel id) epoch → key slot,
//          replay peek, AEAD open, replay mark, promote epoch, address update
//          (roaming, server only), inner decode → sink.
import { Opener, Sealer, overhead } from './aead.js';
import type { Aead, Mode } from './algorithms.js';
import { DGRAM_HEADER_SIZE, FLAG_COMPRESSED, FRAG_HEADER_SIZE, INNER_HEADER_SIZE, InnerKind, PREVIOUS_EPOCH_GRACE_MS } from './constants.js';
import { decodeInner, writeFragmentHeader, writeHeader, writeInner, type DatagramHeader } from './datagram.js';
import type { DatagramPeer } from './datagram-socket.js';
import { ChannelError } from './errors.js';
import type { KeyChain } from './keys.js';
import { PacketPool } from './packet-pool.js';
import { ReplayWindow } from './replay.js';
import type { UdpEndpoint } from './udp-endpoint.js';

/** Send buffers per session: datagrams the socket may hold before sendPacket() refuses. */
export const SEND_QUEUE_PACKETS = 256;
/** ...and at most this many bytes of them (large datagram sizes get fewer buffers, at least 16). */
const SEND_QUEUE_BYTES = 1024 * 1024;
/** The most bytes sendPacket() may put before the body (inner header aside): e.g. a UDP flow's header. */
export const MAX_HEAD = 16;

/** Where authentic packets go. Called synchronously from the socket's message event. */
export interface SessionSink {
  /** A DATA packet. `body` is a view into a fresh buffer: the sink may keep it. */
  packet(body: Buffer, flags: number): void;
  /** A FRAGMENT of a message (checked: count ≥ 2, index < count). */
  fragment(msgId: number, index: number, count: number, flags: number, body: Buffer): void;
  /** The session ended: `err` unless it closed cleanly (by either end). */
  ended(err: Error | undefined): void;
  /** The peer's address changed (server side: a roaming client). */
  roamed(remote: string): void;
  /** Once per endpoint tick, with the coarse time. */
  tick(now: number): void;
}

export interface SessionStats {
  datagramsIn: number;
  datagramsOut: number;
  rekeys: number;
  roams: number;
  /** Datagrams dropped, by reason (stale_epoch, replay, too_old, auth_failed, malformed, send_queue_full). */
  drops: Record<string, number>;
}

export interface SessionLimits {
  keepaliveMs: number;
  deadPeerMs: number;
  rekeyAfterMs: number;
  rekeyAfterPackets: number;
  rekeyAfterBytes: number;
}

export interface SessionInit {
  endpoint: UdpEndpoint;
  role: 'client' | 'server';
  channelId: number;
  sendChain: KeyChain;
  recvChain: KeyChain;
  aead: Aead;
  mode: Mode;
  datagramSize: number;
  limits: SessionLimits;
  /** Client: the server's data address. Server: unknown until the first authentic datagram. */
  peerAddress?: string;
  peerPort?: number;
  /** Counters to add to (the message channel shares its own); a fresh set otherwise. */
  stats?: SessionStats;
}

interface RecvSlot {
  opener: Opener;
  window: ReplayWindow;
  retireAt: number;
}

const EMPTY = Buffer.alloc(0);
const NO_SINK: SessionSink = { packet: () => undefined, fragment: () => undefined, ended: () => undefined, roamed: () => undefined, tick: () => undefined };

export class DatagramSession {
  sink: SessionSink = NO_SINK;
  readonly stats: SessionStats;
  /** What the peer said when it closed the session, if anything. */
  peerCloseReason = '';
  /** Message bytes a DATA packet carries. */
  readonly room: number;
  readonly endpoint: UdpEndpoint;
  private readonly role: 'client' | 'server';
  private readonly id: number;
  private readonly sendChain: KeyChain;
  private readonly recvChain: KeyChain;
  private readonly aead: Aead;
  private readonly mode: Mode;
  private readonly limits: SessionLimits;
  private readonly pool: PacketPool;
  private readonly prefix = Buffer.alloc(INNER_HEADER_SIZE + Math.max(FRAG_HEADER_SIZE, MAX_HEAD));
  private sealer: Sealer;
  private sendCounter = 0;
  private sendBytes = 0;
  private epochStart: number;
  private rekeyDue = false;
  private cur: RecvSlot;
  private next: RecvSlot;
  private prev: RecvSlot | undefined;
  private peerAddress: string;
  private peerPort: number;
  private lastRecv: number;
  private lastSend = 0;
  private established = false;
  private readonly establishedWaiters: (() => void)[] = [];
  private closed = false;

  constructor(init: SessionInit) {
    this.endpoint = init.endpoint;
    this.role = init.role;
    this.id = init.channelId;
    this.sendChain = init.sendChain;
    this.recvChain = init.recvChain;
    this.aead = init.aead;
    this.mode = init.mode;
    this.limits = init.limits;
    this.peerAddress = init.peerAddress ?? '';
    this.peerPort = init.peerPort ?? 0;
    this.stats = init.stats ?? { datagramsIn: 0, datagramsOut: 0, rekeys: 0, roams: 0, drops: {} };
    this.room = init.datagramSize - DGRAM_HEADER_SIZE - overhead(init.mode) - INNER_HEADER_SIZE;
    this.pool = new PacketPool(init.datagramSize, Math.max(16, Math.min(SEND_QUEUE_PACKETS, Math.floor(SEND_QUEUE_BYTES / init.datagramSize))));
    this.sealer = new Sealer(this.aead, this.mode, this.sendChain.next());
    this.cur = this.slot();
    this.next = this.slot();
    this.epochStart = this.lastRecv = this.endpoint.now;
    this.endpoint.add(this.id, this);
  }

  get remote(): string {
    return `${this.peerAddress}:${this.peerPort}`;
  }

  get channelId(): number {
    return this.id;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get isEstablished(): boolean {
    return this.established;
  }

  /** False while the socket holds as many datagrams as the session has buffers: sendPacket() would drop. */
  get writable(): boolean {
    return !this.closed && this.endpoint.pending() < this.pool.count;
  }

  /** Send buffers allocated so far (at most SEND_QUEUE_PACKETS). */
  get buffers(): number {
    return this.pool.allocated;
  }

  /**
   * Seals `head ‖ body` (head: at most MAX_HEAD bytes, e.g. a flow header,
   * so the caller need not join them) into one DATA datagram and sends it
   * now. False if it was dropped: the session is closed, the send queue is
   * full (counted as send_queue_full), or it does not fit in `room`.
   */
  sendPacket(body: Uint8Array, head?: Uint8Array, flags = 0): boolean {
    let at = writeInner(this.prefix, 0, InnerKind.DATA, flags);
    if (head !== undefined) {
      if (head.length > MAX_HEAD) return false;
      this.prefix.set(head, at);
      at += head.length;
    }
    return this.transmit(at, body);
  }

  /** One FRAGMENT of a message the message channel cut up. */
  sendFragment(flags: number, msgId: number, index: number, count: number, body: Uint8Array): boolean {
    return this.transmit(writeFragmentHeader(this.prefix, writeInner(this.prefix, 0, InnerKind.FRAGMENT, flags), msgId, index, count), body);
  }

  /** Client: says hello on UDP so the server learns our address (repeated by tick until answered). */
  sayHello(): void {
    this.transmit(writeInner(this.prefix, 0, InnerKind.KEEPALIVE, 0), EMPTY);
  }

  /** Resolves once a datagram from the peer authenticated (the path works both ways), or the session ended. */
  whenEstablished(): Promise<void> {
    if (this.established || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.establishedWaiters.push(resolve));
  }

  /** Moves the send direction to the next epoch's keys now (the peer follows on receipt). */
  rekey(): void {
    this.sealer.free();
    this.sealer = new Sealer(this.aead, this.mode, this.sendChain.next());
    this.sendCounter = 0;
    this.sendBytes = 0;
    this.epochStart = this.endpoint.now;
    this.rekeyDue = false;
    this.stats.rekeys++;
  }

  /** Tells the peer (if it ever answered) and ends the session; nothing is received from here. */
  close(reason = ''): void {
    if (this.closed) return;
    if (this.established) this.sendClose(reason);
    this.end(undefined);
  }

  /** The authenticated peer broke the protocol: it is told why, and the session ends with an error. */
  abort(what: string): void {
    if (this.closed) return;
    this.drop('malformed');
    const reason = `protocol error: ${this.remote} sent ${what}`;
    this.sendClose(reason);
    this.end(new ChannelError('INSEL_CHANNEL_CLOSED', `channel to ${this.remote} closed: ${reason}`, { peer: this.remote }));
  }

  receive(datagram: Buffer, from: DatagramPeer, h: DatagramHeader): void {
    if (this.closed) return;
    const slot = this.slotFor(h.epoch);
    if (slot === undefined) return this.drop('stale_epoch');
    const verdict = slot.window.check(h.counter);
    if (verdict !== 'ok') return this.drop(verdict);
    const plain = slot.opener.open(datagram, DGRAM_HEADER_SIZE, h.counter);
    if (plain === undefined) return this.drop('auth_failed');
    slot.window.mark(h.counter);
    if (slot === this.next) this.promote();
    if (this.role === 'server' && (from.port !== this.peerPort || from.address !== this.peerAddress)) this.roam(from);
    this.lastRecv = this.endpoint.now;
    this.stats.datagramsIn++;
    if (!this.established) this.establish();
    // DATA, the common case, without decodeInner's object.
    if (plain.length >= INNER_HEADER_SIZE && plain[0] === InnerKind.DATA && (plain[1]! & ~FLAG_COMPRESSED) === 0) return this.sink.packet(plain.subarray(INNER_HEADER_SIZE), plain[1]!);
    let inner;
    try {
      inner = decodeInner(plain);
    } catch {
      return this.drop('malformed');
    }
    switch (inner.kind) {
      case InnerKind.FRAGMENT:
        return this.sink.fragment(inner.msgId, inner.index, inner.count, inner.flags, inner.body);
      case InnerKind.CLOSE:
        this.peerCloseReason = inner.body.toString('utf8');
        return this.end(undefined);
      default:
        return; // KEEPALIVE: lastRecv is all it is for
    }
  }

  tick(now: number): void {
    if (this.closed) return;
    if (!this.established) {
      if (this.role === 'client') this.sayHello();
      return;
    }
    if (now - this.lastRecv > this.limits.deadPeerMs) {
      this.end(new ChannelError('INSEL_PEER_DEAD', `peer ${this.remote} silent for ${now - this.lastRecv} ms (deadPeerMs ${this.limits.deadPeerMs})`, { peer: this.remote }));
      return;
    }
    if (now - this.epochStart >= this.limits.rekeyAfterMs) this.rekeyDue = true;
    if (now - this.lastSend >= this.limits.keepaliveMs) this.transmit(writeInner(this.prefix, 0, InnerKind.KEEPALIVE, 0), EMPTY);
    if (this.prev && now > this.prev.retireAt) this.retirePrev();
    this.sink.tick(now);
  }

  /** `prefixLen` bytes of inner header in this.prefix, then `body`: sealed into a pool buffer and sent. */
  private transmit(prefixLen: number, body: Uint8Array): boolean {
    if (this.closed) return false;
    if (prefixLen - INNER_HEADER_SIZE + body.length > this.room) return false;
    const out = this.pool.take(this.endpoint.pending());
    if (out === undefined) {
      this.drop('send_queue_full');
      return false;
    }
    if (this.rekeyDue || this.sendCounter >= this.limits.rekeyAfterPackets || this.sendBytes >= this.limits.rekeyAfterBytes) this.rekey();
    writeHeader(out, this.sealer.keys.epoch, this.id, this.sendCounter);
    const len = this.sealer.seal(out, DGRAM_HEADER_SIZE, this.prefix, prefixLen, body, this.sendCounter);
    this.sendCounter++;
    this.sendBytes += len;
    this.lastSend = this.endpoint.now;
    this.stats.datagramsOut++;
    this.endpoint.send(out.subarray(0, len), this.peerPort, this.peerAddress);
    return true;
  }

  private sendClose(reason: string): void {
    const text = Buffer.from(reason, 'utf8').subarray(0, Math.min(256, this.room));
    this.transmit(writeInner(this.prefix, 0, InnerKind.CLOSE, 0), text);
  }

  private end(err: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.endpoint.remove(this.id);
    // Keys are wiped at once; nothing is sealed or opened after this.
    this.sealer.free();
    this.cur.opener.free();
    this.next.opener.free();
    this.retirePrev();
    for (const w of this.establishedWaiters.splice(0)) w();
    this.sink.ended(err);
  }

  private drop(reason: string): void {
    this.stats.drops[reason] = (this.stats.drops[reason] ?? 0) + 1;
  }

  private roam(from: DatagramPeer): void {
    this.peerAddress = from.address;
    this.peerPort = from.port;
    if (!this.established) return; // the first authentic datagram tells the server where the client is
    this.stats.roams++;
    this.sink.roamed(this.remote);
  }

  private slot(): RecvSlot {
    return { opener: new Opener(this.aead, this.mode, this.recvChain.next()), window: new ReplayWindow(), retireAt: 0 };
  }

  private slotFor(epoch: number): RecvSlot | undefined {
    if (epoch === this.cur.opener.keys.epoch) return this.cur;
    if (epoch === this.next.opener.keys.epoch) return this.next;
    if (this.prev !== undefined && epoch === this.prev.opener.keys.epoch) return this.prev;
    return undefined;
  }

  private promote(): void {
    this.cur.retireAt = this.endpoint.now + PREVIOUS_EPOCH_GRACE_MS;
    this.retirePrev();
    this.prev = this.cur;
    this.cur = this.next;
    this.next = this.slot();
  }

  private retirePrev(): void {
    this.prev?.opener.free();
    this.prev = undefined;
  }

  private establish(): void {
    this.established = true;
    // The server answers the client's hello at once, so the client knows the path works.
    if (this.role === 'server') this.sayHello();
    for (const w of this.establishedWaiters.splice(0)) w();
  }
}
