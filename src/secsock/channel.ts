// What both transports share: the received-message queue with its bound,
// counters, and the close protocol towards the application. A channel is
// consumed by `recv()` (or `for await`); `send()` resolves once the message
// is handed to the kernel or queued within the socket's limits.
import { EventEmitter } from 'node:events';
import type { Identity } from '../pki/identity.js';
import type { Aead, Compression, Hash, Mode } from './algorithms.js';
import { ChannelError } from './errors.js';

export interface ChannelParams {
  transport: 'tcp' | 'udp';
  aead: Aead;
  hash: Hash;
  compression: Compression;
  mode: Mode;
  maxFrame: number;
  maxMessage: number;
  datagramSize: number;
  /** The TLS 1.3 cipher suite that protected the connection phase (and all TCP data). */
  tlsCipher: string;
  udpPort?: number;
  channelId?: number;
}

export interface ChannelStats {
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  datagramsIn: number;
  datagramsOut: number;
  /** Datagrams or frames dropped, by reason (auth_failed, replay, too_old, …). */
  drops: Record<string, number>;
  rekeys: number;
  roams: number;
}

export abstract class SecChannel extends EventEmitter {
  protected readonly counters: ChannelStats = {
    messagesIn: 0,
    messagesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    datagramsIn: 0,
    datagramsOut: 0,
    drops: {},
    rekeys: 0,
    roams: 0,
  };
  private readonly queue: Buffer[] = [];
  private queuedBytes = 0;
  private waiters: { resolve: (m: Buffer | null) => void; reject: (e: Error) => void }[] = [];
  private closeError: Error | undefined;
  protected closed = false;
  /** What the peer said when it closed the channel, if anything. */
  peerCloseReason = '';

  constructor(
    /** The peer's identity, from its verified certificate. */
    readonly peer: Identity,
    readonly params: ChannelParams,
    protected readonly recvQueueBytes: number,
    /**
     * The peer's certificates (DER, leaf first) as verified in the connection
     * phase; the server re-verifies them when its trust changes (a new CRL).
     */
    readonly peerChain: readonly Buffer[] = [],
  ) {
    super();
  }

  /** host:port of the peer's current address. */
  abstract get remote(): string;

  abstract send(message: Uint8Array): Promise<void>;

  /** Sends a close notice to the peer and releases the channel. */
  abstract close(reason?: string): Promise<void>;

  /** Next message; null once the channel closed cleanly; rejects if it failed. */
  recv(): Promise<Buffer | null> {
    const m = this.queue.shift();
    if (m !== undefined) {
      this.queuedBytes -= m.length;
      if (this.queuedBytes <= this.recvQueueBytes / 2) this.onQueueLow();
      return Promise.resolve(m);
    }
    if (this.closed) return this.closeError ? Promise.reject(this.closeError) : Promise.resolve(null);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    for (;;) {
      const m = await this.recv();
      if (m === null) return;
      yield m;
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  stats(): ChannelStats {
    return { ...this.counters, drops: { ...this.counters.drops } };
  }

  protected drop(reason: string): void {
    this.counters.drops[reason] = (this.counters.drops[reason] ?? 0) + 1;
  }

  /** False when the queue is over its bound: the transport should pause or drop. */
  protected deliver(message: Buffer): boolean {
    this.counters.messagesIn++;
    this.counters.bytesIn += message.length;
    const w = this.waiters.shift();
    if (w) {
      w.resolve(message);
      return true;
    }
    this.queue.push(message);
    this.queuedBytes += message.length;
    return this.queuedBytes <= this.recvQueueBytes;
  }

  /** Takes what the queue holds, for a transport that hands messages elsewhere from now on. */
  protected takeQueued(): Buffer[] {
    this.queuedBytes = 0;
    return this.queue.splice(0);
  }

  protected get queueFull(): boolean {
    return this.queuedBytes > this.recvQueueBytes;
  }

  /** The application drained the queue below half its bound. */
  protected onQueueLow(): void {}

  protected countSent(message: Uint8Array): void {
    this.counters.messagesOut++;
    this.counters.bytesOut += message.length;
  }

  protected checkSendable(message: Uint8Array): void {
    if (this.closed) throw this.closeError ?? new ChannelError('INSEL_CHANNEL_CLOSED', `channel to ${this.remote} is closed`, { peer: this.remote });
    if (message.length > this.params.maxMessage) {
      throw new ChannelError('INSEL_MESSAGE_TOO_LARGE', `message of ${message.length} bytes exceeds the negotiated maximum of ${this.params.maxMessage}`, {
        peer: this.remote,
      });
    }
  }

  /** Marks the channel closed once; waiting receivers get null or the error. */
  protected finish(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.closeError = err;
    for (const w of this.waiters.splice(0)) {
      if (err) w.reject(err);
      else w.resolve(null);
    }
    this.emit('close', err);
  }
}
