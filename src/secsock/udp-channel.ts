// A channel whose data lives on UDP after the TLS connection phase.
//
// Send: size check → adaptive deflate → one DATA datagram or FRAGMENTs of
//   ≤ datagramSize → rekey if due → header (epoch, channel, counter) → AEAD
//   seal → socket.
// Receive (cheap checks first, state changes only after authentication):
//   epoch → key slot, replay peek, AEAD open, replay mark, promote epoch,
//   address update (roaming), inner decode, reassembly, inflate, queue.
import type { RemoteInfo } from 'node:dgram';
import type { Identity } from '../pki/identity.js';
import { Opener, Sealer, overhead } from './aead.js';
import { SecChannel, type ChannelParams } from './channel.js';
import { compressMessage, inflateMessage } from './compress.js';
import { DGRAM_HEADER_SIZE, FLAG_COMPRESSED, FRAG_HEADER_SIZE, INNER_HEADER_SIZE, InnerKind, MAX_FRAGMENTS, PREVIOUS_EPOCH_GRACE_MS } from './constants.js';
import type { ResolvedOptions } from './config.js';
import { decodeInner, writeFragmentHeader, writeHeader, writeInner, type DatagramHeader } from './datagram.js';
import { ChannelError } from './errors.js';
import { KeyChain } from './keys.js';
import { Reassembler } from './reassembly.js';
import { ReplayWindow } from './replay.js';
import type { UdpEndpoint } from './udp-endpoint.js';

const EMPTY = Buffer.alloc(0);
/** Datagrams sent before yielding to the event loop. */
const SEND_BATCH = 32;
/** Messages held per channel while compressed ones inflate; beyond, dropped like a full queue. */
const MAX_INFLATING = 16;

interface RecvSlot {
  opener: Opener;
  window: ReplayWindow;
  retireAt: number;
}

export interface UdpChannelInit {
  endpoint: UdpEndpoint;
  role: 'client' | 'server';
  channelId: number;
  sendChain: KeyChain;
  recvChain: KeyChain;
  /** Client: the server's data address. Server: unknown until the first authentic datagram. */
  peerAddress?: string;
  peerPort?: number;
  /** The peer's verified certificates (see SecChannel.peerChain). */
  peerChain?: readonly Buffer[];
}

export class UdpChannel extends SecChannel {
  private readonly endpoint: UdpEndpoint;
  private readonly role: 'client' | 'server';
  private readonly id: number;
  private readonly sendChain: KeyChain;
  private readonly recvChain: KeyChain;
  private sealer: Sealer;
  private sendCounter = 0;
  private sendBytes = 0;
  private epochStart = Date.now();
  private cur: RecvSlot;
  private next: RecvSlot;
  private prev: RecvSlot | undefined;
  private peerAddress: string;
  private peerPort: number;
  private lastRecv = Date.now();
  private lastSend = 0;
  /** Messages waiting for an inflation ahead of them, and the tail of that line. */
  private inflating = 0;
  private inbound: Promise<void> = Promise.resolve();
  private msgId = 0;
  /** Datagrams sent since the last yield to the event loop (see pace()). */
  private burst = 0;
  private readonly reassembler: Reassembler;
  private readonly prefix = Buffer.alloc(INNER_HEADER_SIZE + FRAG_HEADER_SIZE);
  private readonly tagSize: number;
  private established = false;
  private readonly establishedWaiters: (() => void)[] = [];

  constructor(
    init: UdpChannelInit,
    peer: Identity,
    params: ChannelParams,
    private readonly opts: ResolvedOptions,
  ) {
    super(peer, params, opts.recvQueueBytes, init.peerChain);
    this.endpoint = init.endpoint;
    this.role = init.role;
    this.id = init.channelId;
    this.sendChain = init.sendChain;
    this.recvChain = init.recvChain;
    this.peerAddress = init.peerAddress ?? '';
    this.peerPort = init.peerPort ?? 0;
    this.tagSize = overhead(params.mode);
    this.sealer = new Sealer(params.aead, params.mode, this.sendChain.next());
    this.cur = this.slot();
    this.next = this.slot();
    this.reassembler = new Reassembler(
      { maxMessages: opts.reassemblyMaxMessages, maxBytes: opts.reassemblyMaxBytes, timeoutMs: opts.reassemblyTimeoutMs, maxMessage: params.maxMessage },
      (reason) => this.drop(reason),
    );
    this.endpoint.add(this.id, this);
  }

  get remote(): string {
    return `${this.peerAddress}:${this.peerPort}`;
  }

  get channelId(): number {
    return this.id;
  }

  /** The UDP endpoint this channel sends from (a client can `rebind()` it). */
  get udp(): UdpEndpoint {
    return this.endpoint;
  }

  /** Resolves once a datagram from the peer authenticated: the UDP path works both ways. */
  whenEstablished(): Promise<void> {
    if (this.established) return Promise.resolve();
    return new Promise((resolve) => this.establishedWaiters.push(resolve));
  }

  /** Moves the send direction to the next epoch's keys now (the peer follows on receipt). */
  rekey(): void {
    this.sealer = new Sealer(this.params.aead, this.params.mode, this.sendChain.next());
    this.sendCounter = 0;
    this.sendBytes = 0;
    this.epochStart = Date.now();
    this.counters.rekeys++;
  }

  async send(message: Uint8Array): Promise<void> {
    this.checkSendable(message);
    const { data, compressed } = compressMessage(Buffer.from(message.buffer, message.byteOffset, message.length), this.params.compression);
    const flags = compressed ? FLAG_COMPRESSED : 0;
    const room = this.params.datagramSize - DGRAM_HEADER_SIZE - this.tagSize - INNER_HEADER_SIZE;
    if (data.length <= room) {
      await this.pace([this.transmit(InnerKind.DATA, flags, data, 0, 0, 0)]);
    } else {
      const piece = room - FRAG_HEADER_SIZE;
      const count = Math.ceil(data.length / piece);
      if (count > MAX_FRAGMENTS) {
        throw new ChannelError('INSEL_MESSAGE_TOO_LARGE', `message needs ${count} fragments of ${piece} bytes, more than ${MAX_FRAGMENTS}`, { peer: this.remote });
      }
      const msgId = (this.msgId = (this.msgId + 1) >>> 0);
      const pending: Promise<void>[] = [];
      for (let i = 0; i < count; i++) {
        pending.push(this.transmit(InnerKind.FRAGMENT, flags, data.subarray(i * piece, (i + 1) * piece), msgId, i, count));
        if (this.burst + pending.length >= SEND_BATCH) await this.pace(pending.splice(0));
      }
      await this.pace(pending);
    }
    this.countSent(message);
  }

  async close(reason = ''): Promise<void> {
    if (this.closed) return;
    // Closed at once: nothing more is received or delivered from here (a
    // revoked peer's datagrams stop now). The endpoint lets the channel go
    // once the notice is sent, as a client's socket closes with it.
    const notice = this.established ? this.transmit(InnerKind.CLOSE, 0, Buffer.from(reason.slice(0, 256), 'utf8'), 0, 0, 0).catch(() => undefined) : Promise.resolve();
    this.finish(undefined, notice);
    await notice;
  }

  /** Client: says hello on UDP so the server learns our address (repeated by tick until answered). */
  sayHello(): void {
    void this.transmit(InnerKind.KEEPALIVE, 0, EMPTY, 0, 0, 0).catch(() => undefined);
  }

  receive(datagram: Buffer, from: RemoteInfo, h: DatagramHeader): void {
    if (this.closed) return;
    const slot = this.slotFor(h.epoch);
    if (slot === undefined) return this.drop('stale_epoch');
    const verdict = slot.window.check(h.counter);
    if (verdict !== 'ok') return this.drop(verdict);
    const plain = slot.opener.open(datagram, DGRAM_HEADER_SIZE, h.counter);
    if (plain === undefined) return this.drop('auth_failed');
    slot.window.mark(h.counter);
    if (slot === this.next) this.promote();
    if (this.role === 'server' && (from.port !== this.peerPort || from.address !== this.peerAddress)) {
      if (this.established) this.counters.roams++;
      this.peerAddress = from.address;
      this.peerPort = from.port;
      if (this.established) this.emit('roam', this.remote);
    }
    this.lastRecv = Date.now();
    this.counters.datagramsIn++;
    if (!this.established) this.establish();
    let inner;
    try {
      inner = decodeInner(plain);
    } catch {
      return this.drop('malformed');
    }
    // Before reassembly holds any of it.
    if (inner.flags & FLAG_COMPRESSED && this.params.compression === 'none') return this.protocolError('a compressed message, but this channel negotiated no compression');
    switch (inner.kind) {
      case InnerKind.DATA:
        return this.accept(inner.body, inner.flags);
      case InnerKind.FRAGMENT: {
        const whole = this.reassembler.add(inner.msgId, inner.index, inner.count, inner.flags, inner.body, this.lastRecv);
        if (whole) this.accept(whole.message, whole.flags);
        return;
      }
      case InnerKind.CLOSE:
        this.peerCloseReason = inner.body.toString('utf8');
        this.finish();
        return;
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
    if (now - this.lastRecv > this.opts.deadPeerMs) {
      this.finish(new ChannelError('INSEL_PEER_DEAD', `peer ${this.remote} silent for ${now - this.lastRecv} ms (deadPeerMs ${this.opts.deadPeerMs})`, { peer: this.remote }));
      return;
    }
    if (now - this.lastSend >= this.opts.keepaliveMs) void this.transmit(InnerKind.KEEPALIVE, 0, EMPTY, 0, 0, 0).catch(() => undefined);
    this.reassembler.expire(now);
    if (this.prev && now > this.prev.retireAt) this.prev = undefined;
  }

  /** `sent`: the endpoint forgets the channel once this settles (see close()). */
  protected override finish(err?: Error, sent?: Promise<void>): void {
    if (this.closed) return;
    this.reassembler.clear();
    if (sent === undefined) this.endpoint.remove(this.id);
    else void sent.then(() => this.endpoint.remove(this.id));
    for (const w of this.establishedWaiters.splice(0)) w();
    super.finish(err);
  }

  private accept(body: Buffer, flags: number): void {
    if (this.queueFull) return this.drop('queue_full');
    const compressed = (flags & FLAG_COMPRESSED) !== 0;
    if (!compressed && this.inflating === 0) return void this.deliver(body);
    // Behind (or being) a message on zlib's thread pool: delivered in arrival order.
    if (this.inflating >= MAX_INFLATING) return this.drop('queue_full');
    const ready: Promise<Buffer | Error> = compressed ? inflateMessage(body, this.params.maxMessage).catch((err: Error) => err) : Promise.resolve(body);
    this.inflating++;
    this.inbound = this.inbound
      .then(() => ready)
      .then((m) => {
        this.inflating--;
        if (this.closed) return;
        if (m instanceof Error) this.drop('malformed');
        else this.deliver(m);
      });
  }

  /** The authenticated peer broke the protocol: the channel ends, and the peer is told why. */
  private protocolError(what: string): void {
    this.drop('malformed');
    const reason = `protocol error: ${this.remote} sent ${what}`;
    void this.transmit(InnerKind.CLOSE, 0, Buffer.from(reason.slice(0, 256), 'utf8'), 0, 0, 0).catch(() => undefined);
    this.finish(new ChannelError('INSEL_CHANNEL_CLOSED', `channel to ${this.remote} closed: ${reason}`, { peer: this.remote }));
  }

  private transmit(kind: number, flags: number, body: Uint8Array, msgId: number, index: number, count: number): Promise<void> {
    const now = Date.now();
    if (this.sendCounter >= this.opts.rekeyAfterPackets || this.sendBytes >= this.opts.rekeyAfterBytes || now - this.epochStart >= this.opts.rekeyAfterMs) {
      this.rekey();
    }
    let prefixLen = writeInner(this.prefix, 0, kind, flags);
    if (kind === InnerKind.FRAGMENT) prefixLen = writeFragmentHeader(this.prefix, prefixLen, msgId, index, count);
    const out = Buffer.allocUnsafe(DGRAM_HEADER_SIZE + prefixLen + body.length + this.tagSize);
    writeHeader(out, this.sealer.keys.epoch, this.id, this.sendCounter);
    const len = this.sealer.seal(out, DGRAM_HEADER_SIZE, this.prefix.subarray(0, prefixLen), body, this.sendCounter);
    this.sendCounter++;
    this.sendBytes += len;
    this.lastSend = now;
    this.counters.datagramsOut++;
    return new Promise((resolve, reject) => {
      this.endpoint.send(out.subarray(0, len), this.peerPort, this.peerAddress, (err) => {
        if (err) reject(new ChannelError('INSEL_CHANNEL_CLOSED', `sending to ${this.remote} failed: ${err.message}`, { peer: this.remote, cause: err }));
        else resolve();
      });
    });
  }

  /**
   * Yields to the event loop after every SEND_BATCH datagrams. Node completes
   * a UDP send synchronously when the kernel takes it, so without this a
   * sender in a loop never lets the event loop read: not our peer in the
   * same process, not anything else, and the kernel drops what overflows.
   */
  private async pace(pending: Promise<void>[]): Promise<void> {
    this.burst += pending.length;
    await Promise.all(pending);
    if (this.burst < SEND_BATCH) return;
    this.burst = 0;
    await new Promise(setImmediate);
  }

  private slot(): RecvSlot {
    return { opener: new Opener(this.params.aead, this.params.mode, this.recvChain.next()), window: new ReplayWindow(), retireAt: 0 };
  }

  private slotFor(epoch: number): RecvSlot | undefined {
    if (epoch === this.cur.opener.keys.epoch) return this.cur;
    if (epoch === this.next.opener.keys.epoch) return this.next;
    if (this.prev !== undefined && epoch === this.prev.opener.keys.epoch) return this.prev;
    return undefined;
  }

  private promote(): void {
    this.cur.retireAt = Date.now() + PREVIOUS_EPOCH_GRACE_MS;
    this.prev = this.cur;
    this.cur = this.next;
    this.next = this.slot();
  }

  private establish(): void {
    this.established = true;
    // The server answers the client's hello at once, so the client knows the path works.
    if (this.role === 'server') this.sayHello();
    for (const w of this.establishedWaiters.splice(0)) w();
  }
}
