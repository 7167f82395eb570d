// A channel over the TLS connection itself. Send pipeline: size check →
// adaptive deflate → cut into frames of ≤ maxFrame → corked writes → wait
// for 'drain' if the socket buffer is full. Receive pipeline: frame decoder →
// collect the message's frames (bounded by maxMessage) → inflate → queue,
// pausing the socket while the application lags behind.
import type { TLSSocket } from 'node:tls';
import type { Identity } from '../pki/identity.js';
import { SecChannel, type ChannelParams } from './channel.js';
import { compressMessage, inflateMessage } from './compress.js';
import { FLAG_COMPRESSED, FLAG_MORE, FRAME_HEADER_SIZE, FrameType } from './constants.js';
import { ChannelError, DecodeError } from './errors.js';
import { FrameDecoder, encodeFrame, writeFrameHeader, type Frame } from './frame.js';

export class TcpChannel extends SecChannel {
  private parts: Buffer[] = [];
  private partBytes = 0;
  private partFlags = 0;
  private readonly remoteLabel: string;

  constructor(
    private readonly socket: TLSSocket,
    private readonly decoder: FrameDecoder,
    peer: Identity,
    params: ChannelParams,
    recvQueueBytes: number,
  ) {
    super(peer, params, recvQueueBytes);
    this.remoteLabel = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.on('data', (chunk: Buffer) => {
      this.decoder.push(chunk);
      this.drain();
    });
    socket.on('error', (err) => this.finish(new ChannelError('INSEL_CHANNEL_CLOSED', `connection to ${this.remoteLabel} failed: ${err.message}`, { peer: this.remoteLabel, cause: err })));
    socket.on('close', () => this.finish(this.partBytes > 0 ? new ChannelError('INSEL_CHANNEL_CLOSED', `connection to ${this.remoteLabel} closed in the middle of a message`, { peer: this.remoteLabel }) : undefined));
    // Frames that arrived together with the handshake's last message.
    this.drain();
    socket.resume();
  }

  get remote(): string {
    return this.remoteLabel;
  }

  /** The underlying TLS socket, e.g. for keying material or certificate details. */
  get tlsSocket(): TLSSocket {
    return this.socket;
  }

  async send(message: Uint8Array): Promise<void> {
    this.checkSendable(message);
    const { data, compressed } = compressMessage(Buffer.from(message.buffer, message.byteOffset, message.length), this.params.compression);
    const max = this.params.maxFrame;
    const flags = compressed ? FLAG_COMPRESSED : 0;
    let ok = true;
    this.socket.cork();
    let at = 0;
    do {
      const n = Math.min(max, data.length - at);
      const more = at + n < data.length;
      const head = Buffer.allocUnsafe(FRAME_HEADER_SIZE);
      writeFrameHeader(head, 0, FrameType.DATA, flags | (more ? FLAG_MORE : 0), n);
      this.socket.write(head);
      ok = n === 0 ? ok : this.socket.write(data.subarray(at, at + n));
      at += n;
    } while (at < data.length);
    this.socket.uncork();
    this.countSent(message);
    if (!ok) await this.waitDrain();
  }

  async close(reason = ''): Promise<void> {
    if (this.closed) return;
    this.socket.end(encodeFrame(FrameType.CLOSE, 0, Buffer.from(reason, 'utf8')));
    this.finish();
  }

  protected override onQueueLow(): void {
    if (this.socket.isPaused()) this.socket.resume();
  }

  private waitDrain(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.socket.off('drain', done);
        this.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.on('close', done);
    });
  }

  private drain(): void {
    try {
      for (let f = this.decoder.next(); f !== undefined; f = this.decoder.next()) {
        this.onFrame(f);
        if (this.closed) return;
      }
    } catch (err) {
      this.fail(err);
      return;
    }
    if (this.queueFull) this.socket.pause();
  }

  private onFrame(f: Frame): void {
    if (f.type === FrameType.CLOSE) {
      this.peerCloseReason = f.payload.toString('utf8');
      this.socket.end();
      this.finish();
      return;
    }
    if (f.type !== FrameType.DATA) throw new DecodeError(`unexpected frame type ${f.type} after the connection phase`);
    if (this.partBytes + f.payload.length > this.params.maxMessage) {
      throw new DecodeError(`message from ${this.remoteLabel} exceeds the negotiated maximum of ${this.params.maxMessage} bytes`);
    }
    if (this.parts.length === 0) this.partFlags = f.flags & FLAG_COMPRESSED;
    this.parts.push(f.payload);
    this.partBytes += f.payload.length;
    if (f.flags & FLAG_MORE) return;
    const whole = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.partBytes);
    this.parts = [];
    this.partBytes = 0;
    this.deliver(this.partFlags & FLAG_COMPRESSED ? inflateMessage(whole, this.params.maxMessage) : whole);
  }

  private fail(err: unknown): void {
    this.drop('malformed');
    const reason = err instanceof Error ? err.message : String(err);
    this.socket.end(encodeFrame(FrameType.CLOSE, 0, Buffer.from(`protocol error: ${reason}`.slice(0, 1024), 'utf8')));
    this.finish(new ChannelError('INSEL_CHANNEL_CLOSED', `channel to ${this.remoteLabel} closed: ${reason}`, { peer: this.remoteLabel, cause: err }));
  }
}
