// A channel over a TLS connection. Send pipeline: size check → adaptive
// deflate → cut into frames of ≤ maxFrame → corked writes → wait for 'drain'
// if the socket buffer is full. Receive pipeline: frame decoder → collect the
// message's frames (bounded by maxMessage) → inflate (bounded, on zlib's
// thread pool; reading pauses meanwhile, which keeps order) → queue, pausing
// the socket while the application lags behind.
//
// Rekey moves the channel to a new TLS connection (resume.ts). Each end
// sends SWITCH as its last frame on the old connection and everything after
// on the new one; each end reads the old connection up to the peer's SWITCH
// before it reads the new one. So no message is lost or reordered.
import type { TLSSocket } from 'node:tls';
import type { Identity } from '../pki/identity.js';
import { SecChannel, type ChannelParams } from './channel.js';
import { compressMessage, inflateMessage } from './compress.js';
import { FLAG_COMPRESSED, FLAG_MORE, FRAME_HEADER_SIZE, FrameType, PROTOCOL_VERSION } from './constants.js';
import { encodeControl, type Resume } from './control.js';
import { ChannelError, DecodeError, RejectedError } from './errors.js';
import { FrameDecoder, encodeFrame, writeFrameHeader, type Frame } from './frame.js';
import { newDecoder, readFrame, rejectionFrom } from './handshake.js';
import { proofMatches, resumeProof, resumeSecret } from './resume.js';

/** A TLS connection and the decoder of what arrived on it. */
export interface Link {
  socket: TLSSocket;
  decoder: FrameDecoder;
}

export interface TcpChannelOptions {
  recvQueueBytes: number;
  channelId: number;
  handshakeTimeoutMs: number;
  rekeyAfterBytes: number;
  rekeyAfterMs: number;
  /** Client only: a new TLS connection to the same, re-verified server. */
  dial?: () => Promise<TLSSocket>;
  /** The peer's verified certificates (see SecChannel.peerChain). */
  peerChain?: readonly Buffer[];
}

const SWITCH = encodeFrame(FrameType.SWITCH, 0, Buffer.alloc(0));

export class TcpChannel extends SecChannel {
  private parts: Buffer[] = [];
  private partBytes = 0;
  private partFlags = 0;
  private remoteLabel: string;
  /** Where we send. */
  private out: TLSSocket;
  /** Where we read. */
  private input: Link;
  /** Where reading moves after the peer's SWITCH. */
  private nextInput: Link | undefined;
  /** The peer's SWITCH came before we had the new connection (client side). */
  private peerSwitched = false;
  private secret: Buffer;
  private migrating: Promise<void> | undefined;
  private bytesSinceRekey = 0;
  private rekeyedAt = Date.now();
  /** A compressed message is inflating: nothing more is read until it is delivered. */
  private inflating = false;
  private readonly onData = (chunk: Buffer) => {
    this.input.decoder.push(chunk);
    this.drain();
  };
  private readonly onError = (err: Error) =>
    this.finish(new ChannelError('INSEL_CHANNEL_CLOSED', `connection to ${this.remoteLabel} failed: ${err.message}`, { peer: this.remoteLabel, cause: err }));
  private readonly onClose = () =>
    this.finish(this.partBytes > 0 || this.nextInput ? new ChannelError('INSEL_CHANNEL_CLOSED', `connection to ${this.remoteLabel} closed in the middle of a message`, { peer: this.remoteLabel }) : undefined);

  constructor(
    link: Link,
    peer: Identity,
    params: ChannelParams,
    private readonly opts: TcpChannelOptions,
  ) {
    super(peer, params, opts.recvQueueBytes, opts.peerChain);
    this.out = link.socket;
    this.input = link;
    this.remoteLabel = labelOf(link.socket);
    this.secret = resumeSecret(link.socket, opts.channelId);
    this.attach();
  }

  get remote(): string {
    return this.remoteLabel;
  }

  get channelId(): number {
    return this.opts.channelId;
  }

  /** The TLS socket data is sent on, e.g. for keying material or certificate details. */
  get tlsSocket(): TLSSocket {
    return this.out;
  }

  async send(message: Uint8Array): Promise<void> {
    this.checkSendable(message);
    const { data, compressed } = compressMessage(Buffer.from(message.buffer, message.byteOffset, message.length), this.params.compression);
    const max = this.params.maxFrame;
    const flags = compressed ? FLAG_COMPRESSED : 0;
    const socket = this.out;
    let ok = true;
    socket.cork();
    let at = 0;
    do {
      const n = Math.min(max, data.length - at);
      const more = at + n < data.length;
      const head = Buffer.allocUnsafe(FRAME_HEADER_SIZE);
      writeFrameHeader(head, 0, FrameType.DATA, flags | (more ? FLAG_MORE : 0), n);
      socket.write(head);
      ok = n === 0 ? ok : socket.write(data.subarray(at, at + n));
      at += n;
    } while (at < data.length);
    socket.uncork();
    this.countSent(message);
    this.bytesSinceRekey += data.length;
    this.rekeyIfDue();
    if (!ok) await this.waitDrain(socket);
  }

  /**
   * New keys: a new TLS 1.3 connection replaces the current one without
   * losing or reordering a message. A client dials; a server asks its client
   * to. Resolves once this end sends on the new connection.
   */
  rekey(): Promise<void> {
    if (this.closed) return Promise.reject(new ChannelError('INSEL_CHANNEL_CLOSED', `channel to ${this.remoteLabel} is closed`, { peer: this.remoteLabel }));
    this.migrating ??= (this.opts.dial ? this.dial(this.opts.dial) : this.askClient()).finally(() => {
      this.migrating = undefined;
    });
    return this.migrating;
  }

  /**
   * Server: a client asks to move this channel to `link`. Returns why not,
   * or undefined after answering RESUMED and switching.
   */
  resumeOn(link: Link, resume: Resume, who: Identity): string | undefined {
    if (this.closed) return `channel ${resume.channelId} is closed`;
    if (who.org !== this.peer.org || who.role !== this.peer.role || who.name !== this.peer.name) {
      return `channel ${resume.channelId} belongs to ${this.peer.role} ${this.peer.name}, not to ${who.role} ${who.name}`;
    }
    if (this.nextInput) return `channel ${resume.channelId} is already moving`;
    if (!proofMatches(this.secret, link.socket, resume.channelId, resume.proof)) return `wrong resume proof for channel ${resume.channelId}`;
    link.socket.write(encodeFrame(FrameType.RESUMED, 0, Buffer.alloc(0)));
    link.decoder.withLimit(this.params.maxFrame);
    this.adopt(link);
    return undefined;
  }

  async close(reason = ''): Promise<void> {
    if (this.closed) return;
    this.out.end(encodeFrame(FrameType.CLOSE, 0, Buffer.from(reason, 'utf8')));
    this.finish();
  }

  protected override finish(err?: Error): void {
    if (!this.closed) {
      this.nextInput?.socket.destroy();
      // Read no more into the decoder, and do not let a peer that ignores CLOSE hold the connection.
      this.input.socket.off('data', this.onData);
      const sockets = [this.input.socket, this.out];
      setTimeout(() => sockets.forEach((s) => s.destroy()), this.opts.handshakeTimeoutMs).unref();
    }
    super.finish(err);
  }

  protected override onQueueLow(): void {
    if (this.input.socket.isPaused() && !this.peerSwitched && !this.inflating) this.input.socket.resume();
  }

  /** Client: rekeys in the background once a limit is reached, sending or receiving. */
  private rekeyIfDue(): void {
    if (this.rekeyDue()) this.rekeyInBackground();
  }

  /** A failed rekey leaves the channel on its current connection; the owner hears of it. */
  private rekeyInBackground(): void {
    this.rekey().catch((err: unknown) => this.emit('rekeyFailed', err));
  }

  private rekeyDue(): boolean {
    return this.opts.dial !== undefined && this.migrating === undefined && (this.bytesSinceRekey >= this.opts.rekeyAfterBytes || Date.now() - this.rekeyedAt >= this.opts.rekeyAfterMs);
  }

  private async dial(dial: () => Promise<TLSSocket>): Promise<void> {
    const socket = await dial();
    try {
      const resume: Resume = { v: PROTOCOL_VERSION, channelId: this.opts.channelId, proof: resumeProof(this.secret, socket, this.opts.channelId).toString('hex') };
      socket.write(encodeFrame(FrameType.RESUME, 0, encodeControl(resume)));
      const decoder = newDecoder();
      const reply = await readFrame(socket, decoder, this.opts.handshakeTimeoutMs, 'RESUMED');
      if (reply.type === FrameType.REJECT) throw rejectionFrom(reply, `server ${this.peer.name} (${this.remoteLabel})`);
      if (reply.type !== FrameType.RESUMED) throw new DecodeError(`server ${this.remoteLabel} answered RESUME with frame type ${reply.type}`);
      if (this.closed) throw new ChannelError('INSEL_CHANNEL_CLOSED', `channel to ${this.remoteLabel} closed during rekey`, { peer: this.remoteLabel });
      this.adopt({ socket, decoder: decoder.withLimit(this.params.maxFrame) });
    } catch (err) {
      socket.destroy();
      throw err instanceof RejectedError ? err : new ChannelError('INSEL_CHANNEL_CLOSED', `rekey of channel to ${this.remoteLabel} failed: ${(err as Error).message}`, { peer: this.remoteLabel, cause: err });
    }
  }

  private askClient(): Promise<void> {
    this.out.write(encodeFrame(FrameType.REKEY, 0, Buffer.alloc(0)));
    return new Promise((resolve, reject) => {
      const done = (err?: Error) => {
        this.off('rekeyed', done);
        this.off('close', done);
        if (this.closed) reject(err ?? new ChannelError('INSEL_CHANNEL_CLOSED', `channel to ${this.remoteLabel} closed during rekey`, { peer: this.remoteLabel }));
        else resolve();
      };
      this.on('rekeyed', done);
      this.on('close', done);
    });
  }

  /** Sends from now on over `link`; reads it once the peer's SWITCH arrives. */
  private adopt(link: Link): void {
    this.out.write(SWITCH);
    this.out = link.socket;
    this.nextInput = link;
    this.secret = resumeSecret(link.socket, this.opts.channelId);
    this.bytesSinceRekey = 0;
    this.rekeyedAt = Date.now();
    this.counters.rekeys++;
    this.emit('rekeyed');
    if (this.peerSwitched) this.moveInput();
  }

  private moveInput(): void {
    const next = this.nextInput!;
    this.detach();
    this.input.socket.end(); // both SWITCHes passed: nothing more travels here
    this.input = next;
    this.nextInput = undefined;
    this.peerSwitched = false;
    this.remoteLabel = labelOf(next.socket);
    this.attach();
  }

  private attach(): void {
    const s = this.input.socket;
    s.on('data', this.onData);
    s.on('error', this.onError);
    s.on('close', this.onClose);
    // Frames that arrived together with the connection phase's last message.
    this.drain();
    if (!this.closed && !this.peerSwitched && !this.queueFull && !this.inflating) s.resume();
  }

  private detach(): void {
    const s = this.input.socket;
    s.off('data', this.onData);
    s.off('error', this.onError);
    s.off('close', this.onClose);
    s.on('error', () => undefined); // a late reset of the old connection no longer matters
  }

  private waitDrain(socket: TLSSocket): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        socket.off('drain', done);
        socket.off('close', done);
        this.off('close', done);
        resolve();
      };
      socket.on('drain', done);
      socket.on('close', done);
      this.on('close', done);
    });
  }

  private drain(): void {
    // A closed channel delivers nothing more, whatever the peer keeps sending (a revoked peer may ignore our CLOSE).
    if (this.closed) return;
    if (this.inflating) return void this.input.socket.pause();
    try {
      for (let f = this.input.decoder.next(); f !== undefined; f = this.input.decoder.next()) {
        this.onFrame(f);
        if (this.closed || this.peerSwitched) return;
        if (this.inflating) return void this.input.socket.pause();
      }
    } catch (err) {
      this.fail(err);
      return;
    }
    if (this.queueFull) this.input.socket.pause();
    this.rekeyIfDue();
  }

  private onFrame(f: Frame): void {
    switch (f.type) {
      case FrameType.DATA:
        return this.onDataFrame(f);
      case FrameType.CLOSE:
        this.peerCloseReason = f.payload.toString('utf8');
        this.out.end();
        this.finish();
        return;
      case FrameType.SWITCH:
        if (this.parts.length > 0) throw new DecodeError(`SWITCH from ${this.remoteLabel} in the middle of a message`);
        if (this.nextInput) return this.moveInput();
        // The client's answer (RESUMED) is still on its way; read nothing more here.
        this.peerSwitched = true;
        this.input.socket.pause();
        return;
      case FrameType.REKEY:
        if (!this.opts.dial) throw new DecodeError(`client ${this.remoteLabel} sent REKEY, which only a server sends`);
        this.rekeyInBackground();
        return;
      default:
        throw new DecodeError(`unexpected frame type ${f.type} after the connection phase`);
    }
  }

  private onDataFrame(f: Frame): void {
    if (this.partBytes + f.payload.length > this.params.maxMessage) {
      throw new DecodeError(`message from ${this.remoteLabel} exceeds the negotiated maximum of ${this.params.maxMessage} bytes`);
    }
    if (this.parts.length === 0) {
      this.partFlags = f.flags & FLAG_COMPRESSED;
      if (this.partFlags && this.params.compression === 'none') throw new DecodeError(`${this.remoteLabel} sent a compressed message, but this channel negotiated no compression`);
    }
    this.parts.push(f.payload);
    this.partBytes += f.payload.length;
    this.bytesSinceRekey += f.payload.length;
    if (f.flags & FLAG_MORE) return;
    const whole = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.partBytes);
    this.parts = [];
    this.partBytes = 0;
    if (this.partFlags & FLAG_COMPRESSED) this.inflate(whole);
    else this.deliver(whole);
  }

  /** Inflates off the event loop; reading resumes (and order is kept) once the message is delivered. */
  private inflate(data: Buffer): void {
    this.inflating = true;
    inflateMessage(data, this.params.maxMessage).then(
      (message) => {
        this.inflating = false;
        if (this.closed) return;
        this.deliver(message);
        this.drain();
        if (!this.closed && !this.peerSwitched && !this.queueFull && !this.inflating) this.input.socket.resume();
      },
      (err: unknown) => {
        this.inflating = false;
        if (!this.closed) this.fail(err);
      },
    );
  }

  private fail(err: unknown): void {
    this.drop('malformed');
    const reason = err instanceof Error ? err.message : String(err);
    this.out.end(encodeFrame(FrameType.CLOSE, 0, Buffer.from(`protocol error: ${reason}`.slice(0, 1024), 'utf8')));
    this.finish(new ChannelError('INSEL_CHANNEL_CLOSED', `channel to ${this.remoteLabel} closed: ${reason}`, { peer: this.remoteLabel, cause: err }));
    // Read (and drop) on, even if paused for an inflation: the peer's FIN then closes the socket.
    this.detach();
    this.input.socket.resume();
  }
}

function labelOf(socket: TLSSocket): string {
  return `${socket.remoteAddress}:${socket.remotePort}`;
}
