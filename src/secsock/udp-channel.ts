// The message channel of UDP: messages of any size up to maxMessage over a
// datagram session (datagram-session.ts), with the promise API of
// sec_send/sec_recv.
//
// Send: size check → fits one datagram: one DATA packet, never compressed →
//   else adaptive deflate → FRAGMENTs of ≤ room → the session seals and sends
//   each; the sender waits while the session's send queue is full and yields
//   to the event loop every SEND_BATCH datagrams.
// Receive (from the session, after authentication): DATA → deliver; FRAGMENT
//   → reassembly → deliver; compressed → inflate on zlib's pool, in order.
import type { Identity } from '../pki/identity.js';
import { SecChannel, type ChannelParams } from './channel.js';
import { compressMessage, inflateMessage } from './compress.js';
import { FLAG_COMPRESSED, FRAG_HEADER_SIZE, MAX_FRAGMENTS } from './constants.js';
import type { ResolvedOptions } from './config.js';
import { DatagramSession, type SessionSink } from './datagram-session.js';
import { ChannelError } from './errors.js';
import type { KeyChain } from './keys.js';
import { Reassembler } from './reassembly.js';
import type { UdpEndpoint } from './udp-endpoint.js';

const EMPTY = Buffer.alloc(0);
/** Datagrams sent before yielding to the event loop. */
const SEND_BATCH = 32;
/** Messages held per channel while compressed ones inflate; beyond, dropped like a full queue. */
const MAX_INFLATING = 16;

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

/** Receives whole messages synchronously instead of the recv() queue (see UdpChannel.onMessage). */
export type MessageSink = (message: Buffer) => void;

export class UdpChannel extends SecChannel implements SessionSink {
  /** The datagram session beneath: UDP flows and the IP tunnel send single packets on it directly. */
  readonly session: DatagramSession;
  private onMessage: MessageSink | undefined;
  /** Messages waiting for an inflation ahead of them, and the tail of that line. */
  private inflating = 0;
  private inbound: Promise<void> = Promise.resolve();
  private msgId = 0;
  /** Datagrams sent since the last yield to the event loop. */
  private burst = 0;
  private readonly reassembler: Reassembler;

  constructor(
    init: UdpChannelInit,
    peer: Identity,
    params: ChannelParams,
    opts: ResolvedOptions,
  ) {
    super(peer, params, opts.recvQueueBytes, init.peerChain);
    this.reassembler = new Reassembler(
      { maxMessages: opts.reassemblyMaxMessages, maxBytes: opts.reassemblyMaxBytes, timeoutMs: opts.reassemblyTimeoutMs, maxMessage: params.maxMessage },
      (reason) => this.drop(reason),
    );
    this.session = new DatagramSession({ ...init, aead: params.aead, mode: params.mode, datagramSize: params.datagramSize, limits: opts, stats: this.counters });
    this.session.sink = this;
  }

  get remote(): string {
    return this.session.remote;
  }

  get channelId(): number {
    return this.session.channelId;
  }

  /** The UDP endpoint this channel sends from (a client can `rebind()` it). */
  get udp(): UdpEndpoint {
    return this.session.endpoint;
  }

  /** Resolves once a datagram from the peer authenticated: the UDP path works both ways. */
  whenEstablished(): Promise<void> {
    return this.session.whenEstablished();
  }

  /** Moves the send direction to the next epoch's keys now (the peer follows on receipt). */
  rekey(): void {
    this.session.rekey();
  }

  /**
   * From now on, messages go to `sink` as they arrive (in order), not to the
   * recv() queue: no promise per message. What the queue held goes first. A
   * sink that throws closes the channel with that error.
   */
  deliverTo(sink: MessageSink): void {
    this.onMessage = sink;
    for (const m of this.takeQueued()) this.toSink(m);
  }

  /** Client: says hello on UDP so the server learns our address. */
  sayHello(): void {
    this.session.sayHello();
  }

  async send(message: Uint8Array): Promise<void> {
    this.checkSendable(message);
    const msg = Buffer.isBuffer(message) ? message : Buffer.from(message.buffer, message.byteOffset, message.length);
    const s = this.session;
    if (msg.length <= s.room) {
      // A message that fits one datagram is never compressed.
      if (this.mustWait()) await this.ready();
      s.sendPacket(msg);
      this.countSent(message);
      return;
    }
    const { data, compressed } = compressMessage(msg, this.params.compression);
    const flags = compressed ? FLAG_COMPRESSED : 0;
    if (data.length <= s.room) {
      if (this.mustWait()) await this.ready();
      s.sendPacket(data, undefined, flags);
    } else {
      const piece = s.room - FRAG_HEADER_SIZE;
      const count = Math.ceil(data.length / piece);
      if (count > MAX_FRAGMENTS) {
        throw new ChannelError('INSEL_MESSAGE_TOO_LARGE', `message needs ${count} fragments of ${piece} bytes, more than ${MAX_FRAGMENTS}`, { peer: this.remote });
      }
      const msgId = (this.msgId = (this.msgId + 1) >>> 0);
      for (let i = 0; i < count; i++) {
        if (this.mustWait()) await this.ready();
        s.sendFragment(flags, msgId, i, count, data.subarray(i * piece, (i + 1) * piece));
      }
    }
    this.countSent(message);
  }

  async close(reason = ''): Promise<void> {
    // Closed at once: nothing more is received or delivered from here (a
    // revoked peer's datagrams stop now).
    this.session.close(reason);
  }

  packet(body: Buffer, flags: number): void {
    if (this.closed || !this.allowed(flags)) return;
    this.accept(body, flags);
  }

  fragment(msgId: number, index: number, count: number, flags: number, body: Buffer): void {
    // Before reassembly holds any of it.
    if (this.closed || !this.allowed(flags)) return;
    const whole = this.reassembler.add(msgId, index, count, flags, body, this.session.endpoint.now);
    if (whole) this.accept(whole.message, whole.flags);
  }

  ended(err: Error | undefined): void {
    this.peerCloseReason = this.session.peerCloseReason;
    this.reassembler.clear();
    this.finish(err);
  }

  roamed(remote: string): void {
    this.emit('roam', remote);
  }

  tick(now: number): void {
    this.reassembler.expire(now);
  }

  /**
   * mustWait() and ready(): waits while the session's send queue is full, and yields to the event
   * loop every SEND_BATCH datagrams: Node completes a UDP send synchronously
   * when the kernel takes it, so without this a sender in a loop never lets
   * the event loop read (not our peer in the same process, not anything
   * else) and the kernel drops what overflows.
   */
  private mustWait(): boolean {
    return ++this.burst >= SEND_BATCH || !this.session.writable || this.closed;
  }

  private async ready(): Promise<void> {
    this.burst = 0;
    while (!this.closed) {
      await new Promise(setImmediate);
      if (this.session.writable || this.session.isClosed) break;
    }
    if (this.closed) this.checkSendable(EMPTY);
  }

  /** A compressed message on a channel that negotiated none breaks the protocol. */
  private allowed(flags: number): boolean {
    if (!(flags & FLAG_COMPRESSED) || this.params.compression !== 'none') return true;
    this.session.abort('a compressed message, but this channel negotiated no compression');
    return false;
  }

  private accept(body: Buffer, flags: number): void {
    const compressed = (flags & FLAG_COMPRESSED) !== 0;
    if (!compressed && this.inflating === 0) return this.hand(body);
    if (this.onMessage === undefined && this.queueFull) return this.drop('queue_full');
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
        else this.hand(m);
      });
  }

  private hand(message: Buffer): void {
    if (this.onMessage === undefined) {
      if (this.queueFull) return this.drop('queue_full');
      this.deliver(message);
      return;
    }
    this.counters.messagesIn++;
    this.counters.bytesIn += message.length;
    this.toSink(message);
  }

  private toSink(message: Buffer): void {
    if (this.closed) return;
    try {
      this.onMessage!(message);
    } catch (err) {
      this.finish(err as Error);
      this.session.close('receiver error');
    }
  }
}
