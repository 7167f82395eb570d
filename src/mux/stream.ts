// One stream of a session: a Duplex of payload bytes, plus the credit and
// queues behind it (docs/PROTOCOL.md §5.1 "Flow control").
//
// send:    write() / a spliced socket → out queue → Scheduler picks a frame
//          within our credit → socket; write callbacks fire once their bytes
//          are framed, so Writable's high-water mark is our backpressure.
// receive: DATA pieces → push() (or, spliced, one corked write per frame to
//          the local socket) → consumed (emitted as 'data', or taken by the
//          local socket) → WINDOW in quarter-window batches;
//          the window doubles (to maxWindow) when the peer ran out of credit
//          while our consumer kept up.
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { FLAG_FIN, FRAME_HEADER_SIZE, FrameType, MuxCode, SEND_FRAME, SMALL_FRAME, SPLICE_QUEUE_CAP } from './constants.js';
import { codeFrame, dataHeader, encodeFrame, writeHeader } from './frame.js';
import { MuxError } from './errors.js';
import { encodeHeaders, type MuxHeaders } from './headers.js';
import type { Sender } from './scheduler.js';
import type { MuxSession } from './session.js';
import { spliceSocket } from './splice.js';

export class MuxStream extends Duplex implements Sender {
  readonly id: number;
  readonly headers: MuxHeaders;
  readonly session: MuxSession;
  replied = false;

  // ---- send side
  queued = false;
  pendingWindow = 0;
  /** the opener may send after OPEN, the acceptor after REPLY */
  private canSend: boolean;
  private sendCredit: number;
  private out: Buffer[] = [];
  private outBytes = 0;
  private burst = 0;
  private queuedTotal = 0;
  private sentTotal = 0;
  private writeCb: ((err?: Error | null) => void) | undefined;
  private writeCbAt = 0;
  private finQueued = false;
  private finalCb: ((err?: Error | null) => void) | undefined;
  finSent = false;
  /** called when a spliced socket's data has drained from the out queue */
  onOutDrained: (() => void) | undefined;

  // ---- receive side
  recvWindow: number;
  recvCredit: number;
  buffered = 0;
  starved = false;
  peerEnded = false;
  private unreturned = 0;
  local: Socket | undefined;
  private parts: Buffer[] = [];
  private localWritten = 0;
  private localCredited = 0;
  private readonly onLocalWritten = () => this.localAccount();

  // ---- life
  /** the stream no longer counts in the session (both FINs, or a reset either way) */
  released = false;
  private resetDone = false;

  constructor(session: MuxSession, id: number, headers: MuxHeaders, opener: boolean, window: number) {
    super({ allowHalfOpen: true, writableHighWaterMark: SEND_FRAME });
    this.session = session;
    this.id = id;
    this.headers = headers;
    this.canSend = opener;
    this.sendCredit = window;
    this.recvWindow = window;
    this.recvCredit = window;
  }

  respond(headers: MuxHeaders, opts: { end?: boolean } = {}): void {
    if (this.canSend) throw new MuxError('INSEL_MUX_STATE', `stream ${this.id}: respond() is for the acceptor, once`);
    const block = encodeHeaders(headers);
    if (this.resetDone) return;
    this.canSend = true;
    this.replied = true;
    this.session.scheduler.sendControl(encodeFrame(FrameType.REPLY, opts.end === true ? FLAG_FIN : 0, this.id, block));
    if (opts.end === true) {
      this.finSent = true;
      this.end();
      this.maybeRelease();
    } else this.session.scheduler.ready(this);
  }

  reset(code: number, reason: string): void {
    if (this.resetDone || this.released) return;
    this.resetDone = true;
    this.session.scheduler.sendControl(codeFrame(FrameType.RESET, this.id, code, reason));
    this.teardown();
  }

  splice(socket: Socket): Promise<void> {
    return spliceSocket(this, socket);
  }

  // ---- Duplex

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.enqueue(chunk);
    if (this.sentTotal >= this.queuedTotal) return cb(); // an empty write
    this.writeCb = cb;
    this.writeCbAt = this.queuedTotal;
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.finSent) return cb();
    this.finalCb = cb;
    this.queueFin();
  }

  // Data is pushed as it arrives; the window, not _read, paces the peer.
  override _read(): void {}

  /**
   * Every byte that leaves the readable buffer is emitted as 'data' (flowing,
   * read(), pipe, async iteration alike): that is where it counts as consumed.
   */
  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'data') {
      const chunk = args[0] as Buffer | string;
      this.consumed(typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length);
    }
    return super.emit(event, ...args);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.released && !this.resetDone) {
      this.resetDone = true;
      this.session.scheduler.sendControl(codeFrame(FrameType.RESET, this.id, MuxCode.CANCEL, err?.message ?? 'stream destroyed'));
      this.teardown();
    }
    this.session.unbuffer(this.buffered);
    this.buffered = 0;
    cb(err);
  }

  // ---- send side (Sender)

  /** Queues bytes to send (from write() or a spliced socket). */
  enqueue(chunk: Buffer): void {
    if (chunk.length === 0 || this.resetDone) return;
    if (this.outBytes === 0) this.burst = 0;
    this.out.push(chunk);
    this.outBytes += chunk.length;
    this.queuedTotal += chunk.length;
    this.session.addQueued(chunk.length);
    this.session.scheduler.ready(this);
  }

  queueFin(): void {
    if (this.finQueued) return;
    this.finQueued = true;
    this.session.scheduler.ready(this);
  }

  /** More credit from the peer's WINDOW. */
  addCredit(n: number): void {
    this.sendCredit += n;
    this.session.scheduler.ready(this);
  }

  get credit(): number {
    return this.sendCredit;
  }

  get outQueued(): number {
    return this.outBytes;
  }

  sendable(): boolean {
    if (!this.canSend || this.finSent || this.resetDone) return false;
    return this.outBytes > 0 ? this.sendCredit > 0 : this.finQueued;
  }

  load(): number {
    return this.burst + this.outBytes + this.writableLength;
  }

  sendFrame(socket: Duplex, onWritten: () => void): void {
    const n = Math.min(this.outBytes, this.sendCredit, SEND_FRAME);
    const flags = this.finQueued && n === this.outBytes ? FLAG_FIN : 0;
    if (n <= SMALL_FRAME) socket.write(this.takeSmall(flags, n), onWritten);
    else {
      socket.write(dataHeader(flags, this.id, n), onWritten);
      for (let left = n; left > 0; ) {
        const piece = this.takePiece(left);
        socket.write(piece, onWritten);
        left -= piece.length;
      }
    }
    this.outBytes -= n;
    this.session.addQueued(-n);
    this.sendCredit -= n;
    this.burst += n;
    this.sentTotal += n;
    if (this.writeCb !== undefined && this.sentTotal >= this.writeCbAt) {
      const cb = this.writeCb;
      this.writeCb = undefined;
      cb();
    }
    if (this.onOutDrained !== undefined && this.outBytes <= SPLICE_QUEUE_CAP / 2) this.onOutDrained();
    if (flags !== 0) {
      this.finSent = true;
      const cb = this.finalCb;
      this.finalCb = undefined;
      cb?.();
      this.maybeRelease();
    }
  }

  /** Up to `max` bytes from the head of the out queue, uncopied. */
  private takePiece(max: number): Buffer {
    const head = this.out[0]!;
    if (head.length <= max) {
      this.out.shift();
      return head;
    }
    this.out[0] = head.subarray(max);
    return head.subarray(0, max);
  }

  /** A small frame, header and payload copied into one buffer: one write, one TLS record. */
  private takeSmall(flags: number, n: number): Buffer {
    const frame = Buffer.allocUnsafe(FRAME_HEADER_SIZE + n);
    writeHeader(frame, FrameType.DATA, flags, this.id, n);
    for (let at = FRAME_HEADER_SIZE; at < frame.length; ) {
      const piece = this.takePiece(frame.length - at);
      frame.set(piece, at);
      at += piece.length;
    }
    return frame;
  }

  // ---- receive side (called by the session's frame sink)

  /** The peer's REPLY. */
  onReply(headers: MuxHeaders, fin: boolean): void {
    this.replied = true;
    this.emit('response', headers);
    if (fin) this.onPeerFin();
  }

  receive(piece: Buffer): void {
    if (this.local !== undefined) {
      this.parts.push(piece);
      return;
    }
    this.push(piece);
  }

  /** The end of a DATA frame: spliced, its pieces go to the local socket in one corked write. */
  frameEnd(fin: boolean): void {
    const local = this.local;
    if (local !== undefined && this.parts.length > 0) {
      local.cork();
      for (const p of this.parts) {
        this.localWritten += p.length;
        local.write(p, this.onLocalWritten);
      }
      local.uncork();
      this.parts.length = 0;
    }
    if (fin) this.onPeerFin();
  }

  onPeerFin(): void {
    this.peerEnded = true;
    if (this.local !== undefined) this.local.end();
    else if (!this.destroyed) this.push(null);
    this.maybeRelease();
  }

  /** The peer's RESET, or the session ending under the stream: tell why ('reset'), then close. */
  onPeerReset(code: number, reason: string): void {
    if (this.released) return;
    this.peerEnded = true;
    this.resetDone = true;
    this.emit('reset', code, reason);
    this.teardown();
  }

  /** Spliced: bytes the local socket took (no longer in its writableLength) are consumed. */
  private localAccount(): void {
    const local = this.local;
    if (local === undefined) return;
    const delta = this.localWritten - local.writableLength - this.localCredited;
    if (delta <= 0) return;
    this.localCredited += delta;
    this.consumed(delta);
  }

  private consumed(n: number): void {
    // Destroyed, the stream gave back all it held at once (_destroy); late write callbacks change nothing.
    if (this.destroyed) return;
    this.buffered -= n;
    this.session.unbuffer(n);
    if (this.peerEnded || this.released) return;
    this.unreturned += n;
    if (this.unreturned < this.recvWindow / 4) return;
    let inc = this.unreturned;
    this.unreturned = 0;
    if (this.starved && this.backlog() <= this.recvWindow / 4) inc += this.session.grow(this);
    this.starved = false;
    this.recvCredit += inc;
    if (this.pendingWindow === 0) this.session.scheduler.sendWindow(this);
    this.pendingWindow += inc;
  }

  /**
   * What our consumer has not taken yet. Spliced, that is what the local
   * socket has not handed to the kernel: `buffered` also counts bytes the
   * kernel took whose write callbacks have not run yet (they run a tick
   * later), which made a pipelined transfer look like a lagging reader and
   * kept the window at its initial size.
   */
  private backlog(): number {
    return this.local !== undefined ? this.local.writableLength : this.buffered;
  }

  // ---- life

  /** Both directions finished: the stream leaves the session (its Duplex may still hold data for the reader). */
  private maybeRelease(): void {
    if (!this.finSent || !this.peerEnded || this.released) return;
    this.session.release(this);
    // Spliced, nobody reads the Duplex side: close it now.
    if (this.local !== undefined) this.destroy();
  }

  private teardown(): void {
    this.session.addQueued(-this.outBytes);
    this.out = [];
    this.outBytes = 0;
    this.parts.length = 0;
    if (!this.released) this.session.release(this);
    this.local?.destroy();
    if (!this.destroyed) this.destroy();
  }

  /** Moves what the readable side holds to `local` and sends all further DATA there. */
  attach(local: Socket): void {
    for (let b = this.read() as Buffer | null; b !== null; b = this.read() as Buffer | null) local.write(b);
    this.local = local;
    if (this.peerEnded && !this.resetDone) local.end();
  }

  get isReset(): boolean {
    return this.resetDone;
  }
}
