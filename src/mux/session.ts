// A multiplexed session over one reliable byte stream (the mTLS socket):
// stream ids, the frame sink, limits, and the session's end
// (docs/PROTOCOL.md §5.1).
//
// receive: socket 'data' (never paused: our windows bound the peer) →
//          FrameDecoder → this sink → stream (DATA) or the control handler
// send:    streams and control → Scheduler → one corked pass per turn
//
// Anything the peer gets wrong ends the whole session with GOAWAY and a
// MuxError: a peer that breaks framing cannot be trusted with the rest.
// Limits that an honest peer can hit (streams, OPEN rate) refuse one stream.
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { FLAG_ACK, FLAG_FIN, FrameType, GOAWAY_LINGER_MS, MAX_CONTROL_BACKLOG, MAX_U32, MuxCode } from './constants.js';
import { MuxError, flowError, protocolError } from './errors.js';
import { FrameDecoder, codeFrame, decodeCode, encodeFrame, type FrameSink } from './frame.js';
import { decodeHeaders, encodeHeaders, type MuxHeaders } from './headers.js';
import { resolveLimits, TokenBucket, type MuxLimits } from './limits.js';
import { Scheduler } from './scheduler.js';
import { MuxStream } from './stream.js';

export interface MuxSessionOptions {
  side: 'client' | 'server';
  /** who is at the other end, for errors and logs */
  peer?: string;
  limits?: Partial<MuxLimits>;
  /** milliseconds, for the OPEN rate; tests inject one */
  now?: () => number;
}

export class MuxSession extends EventEmitter implements FrameSink {
  readonly side: 'client' | 'server';
  readonly peer: string | undefined;
  readonly limits: MuxLimits;
  /** @internal */
  readonly scheduler: Scheduler;
  /** why the session ended ('' while it runs) */
  closeReason = '';
  /** the peer's offence, when that is why it ended */
  error: MuxError | undefined;

  private readonly socket: Duplex;
  private readonly decoder: FrameDecoder;
  private readonly opens: TokenBucket;
  private readonly streams = new Map<number, MuxStream>();
  /** streams we closed while the peer may still send: id → credit it has left */
  private readonly tombstones = new Map<number, number>();
  private nextId: number;
  private lastPeerId = 0;
  private peerStreams = 0;
  /** received and not yet consumed, all streams */
  private buffered = 0;
  /** receive windows granted, all streams */
  private granted = 0;
  /** queued to send, all streams */
  private queued = 0;
  /** spliced sockets paused while `queued` is over its limit */
  private readonly roomWaiters = new Set<() => void>();
  /** the DATA frame being received: its stream, or undefined to drop it */
  private target: MuxStream | undefined;
  private targetFin = false;
  private isClosed = false;

  constructor(socket: Duplex, opts: MuxSessionOptions) {
    super();
    this.socket = socket;
    this.side = opts.side;
    this.peer = opts.peer;
    this.limits = resolveLimits(opts.limits);
    this.nextId = opts.side === 'client' ? 1 : 2;
    this.opens = new TokenBucket(this.limits.opensPerSecond, opts.now ?? Date.now);
    this.scheduler = new Scheduler(socket);
    this.decoder = new FrameDecoder(this);
    (socket as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
    socket.on('data', (chunk: Buffer) => this.onSocketData(chunk));
    socket.on('end', () => this.terminate('the peer closed the connection', MuxCode.CANCEL, false));
    socket.on('error', (e: Error) => this.terminate(`connection error: ${e.message}`, MuxCode.CANCEL, false));
    socket.on('close', () => this.terminate('connection closed', MuxCode.CANCEL, false));
  }

  get closed(): boolean {
    return this.isClosed;
  }

  get streamCount(): number {
    return this.streams.size;
  }

  /** Bytes received and not yet taken by consumers, all streams. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** Bytes queued to send and not yet handed to the socket, all streams. */
  get queuedBytes(): number {
    return this.queued;
  }

  /** @internal A stream's send queue grew (n > 0) or shrank; below half the limit, paused splices go on. */
  addQueued(n: number): void {
    this.queued += n;
    if (n >= 0 || this.roomWaiters.size === 0 || this.queued > this.limits.maxQueuedPerSession / 2) return;
    const waiters = [...this.roomWaiters];
    this.roomWaiters.clear();
    for (const wake of waiters) wake();
  }

  /** @internal True while the send queues are over maxQueuedPerSession; `wake` runs once they have room again. */
  overQueued(wake: () => void): boolean {
    if (this.queued <= this.limits.maxQueuedPerSession) return false;
    this.roomWaiters.add(wake);
    return true;
  }

  open(headers: MuxHeaders, opts: { end?: boolean } = {}): MuxStream {
    if (this.isClosed) throw new MuxError('INSEL_MUX_CLOSED', `session ${this.who()}is closed: ${this.closeReason}`, this.ctx());
    if (this.nextId > MAX_U32) throw new MuxError('INSEL_MUX_CLOSED', `session ${this.who()}has used up its stream ids`, this.ctx());
    const block = encodeHeaders(headers);
    const id = this.nextId;
    this.nextId += 2;
    const s = this.add(id, headers, true);
    const end = opts.end === true;
    this.scheduler.sendControl(encodeFrame(FrameType.OPEN, end ? FLAG_FIN : 0, id, block));
    if (end) {
      s.finSent = true;
      s.end();
    }
    return s;
  }

  goaway(code: number, reason: string): void {
    this.terminate(reason, code, true);
  }

  destroy(reason = 'destroyed'): void {
    this.terminate(reason, MuxCode.CANCEL, false);
    this.socket.destroy();
  }

  // ---- used by streams

  /** @internal A stream finished or was reset: it leaves the session. */
  release(s: MuxStream): void {
    if (s.released) return;
    s.released = true;
    this.streams.delete(s.id);
    this.granted -= s.recvWindow;
    if (s.id % 2 !== this.nextId % 2) this.peerStreams--;
    if (!s.peerEnded && !this.isClosed) this.tombstone(s.id, s.recvCredit);
  }

  /** @internal Consumers took `n` buffered bytes. */
  unbuffer(n: number): void {
    this.buffered -= n;
  }

  /** @internal How much to grow `s`'s window now (0: at its maximum, or the session's grants would pass its buffer limit). */
  grow(s: MuxStream): number {
    const by = Math.min(s.recvWindow, this.limits.maxWindow - s.recvWindow);
    if (by <= 0 || this.granted + by > this.limits.maxBufferedPerSession) return 0;
    s.recvWindow += by;
    this.granted += by;
    return by;
  }

  // ---- FrameSink: what the decoder found

  dataStart(id: number, flags: number, length: number): void {
    this.target = undefined;
    this.targetFin = (flags & FLAG_FIN) !== 0;
    const s = this.streams.get(id);
    if (s === undefined) return this.dataForClosed(id, length);
    if (s.peerEnded) throw protocolError(`DATA on stream ${id} after the peer ended it`);
    if (length > s.recvCredit) throw flowError(`DATA of ${length} bytes on stream ${id}, which had ${s.recvCredit} bytes of credit`);
    s.recvCredit -= length;
    if (s.recvCredit === 0) s.starved = true;
    s.buffered += length;
    this.buffered += length;
    if (this.buffered > this.limits.maxBufferedPerSession) throw flowError(`${this.buffered} bytes buffered, more than maxBufferedPerSession (${this.limits.maxBufferedPerSession})`);
    this.target = s;
  }

  dataPiece(piece: Buffer): void {
    this.target?.receive(piece);
  }

  dataEnd(): void {
    const s = this.target;
    this.target = undefined;
    s?.frameEnd(this.targetFin);
  }

  control(type: number, flags: number, id: number, payload: Buffer): void {
    this.handleControl(type, flags, id, payload);
    if (this.scheduler.controlBacklog > MAX_CONTROL_BACKLOG) throw flowError(`${this.scheduler.controlBacklog} bytes of our control frames wait for the peer to read`);
  }

  private handleControl(type: number, flags: number, id: number, payload: Buffer): void {
    switch (type) {
      case FrameType.OPEN:
        return this.onOpen(id, (flags & FLAG_FIN) !== 0, payload);
      case FrameType.REPLY:
        return this.onReply(id, (flags & FLAG_FIN) !== 0, payload);
      case FrameType.WINDOW:
        return this.onWindow(id, payload.readUInt32BE(0));
      case FrameType.RESET: {
        const { code, reason } = decodeCode(payload);
        const s = this.streams.get(id);
        if (s !== undefined) return s.onPeerReset(code, reason);
        this.checkOpened(id, 'RESET');
        this.tombstones.delete(id);
        return;
      }
      case FrameType.PING:
        if ((flags & FLAG_ACK) === 0) this.scheduler.sendControl(encodeFrame(FrameType.PING, FLAG_ACK, 0, payload));
        return;
      case FrameType.GOAWAY: {
        const { code, reason } = decodeCode(payload);
        this.emit('goaway', code, reason);
        this.terminate(`the peer sent GOAWAY ${code}: ${reason}`, code, false);
        return;
      }
    }
  }

  // ---- control frames

  private onOpen(id: number, fin: boolean, payload: Buffer): void {
    if (id % 2 === this.nextId % 2) throw protocolError(`OPEN of stream ${id}, an id of our parity`);
    if (id <= this.lastPeerId) throw protocolError(`OPEN of stream ${id} after stream ${this.lastPeerId}: ids must increase`);
    this.lastPeerId = id;
    const headers = decodeHeaders(payload);
    const refuse = (why: string) => {
      this.scheduler.sendControl(codeFrame(FrameType.RESET, id, MuxCode.REFUSED, why));
      if (!fin) this.tombstone(id, this.limits.initialWindow);
    };
    if (this.peerStreams >= this.limits.maxStreams) return refuse(`too many streams: ${this.peerStreams} open, maxStreams is ${this.limits.maxStreams}`);
    if (!this.opens.take()) return refuse(`too many OPENs: more than ${this.limits.opensPerSecond} per second`);
    if (this.listenerCount('stream') === 0) return refuse('this end accepts no streams');
    this.peerStreams++;
    const s = this.add(id, headers, false);
    if (fin) s.onPeerFin();
    this.emit('stream', s, headers);
  }

  private onReply(id: number, fin: boolean, payload: Buffer): void {
    const s = this.streams.get(id);
    if (s === undefined) return this.checkOpened(id, 'REPLY');
    if (id % 2 !== this.nextId % 2) throw protocolError(`REPLY on stream ${id}, which the peer opened`);
    if (s.replied) throw protocolError(`a second REPLY on stream ${id}`);
    if (s.peerEnded) throw protocolError(`REPLY on stream ${id} after the peer ended it`);
    s.onReply(decodeHeaders(payload), fin);
  }

  private onWindow(id: number, increment: number): void {
    if (increment === 0) throw protocolError(`WINDOW of 0 on stream ${id}`);
    const s = this.streams.get(id);
    if (s === undefined) return this.checkOpened(id, 'WINDOW');
    if (s.credit + increment > MAX_U32) throw flowError(`WINDOW on stream ${id} raises its credit past ${MAX_U32}`);
    s.addCredit(increment);
  }

  // ---- streams

  private add(id: number, headers: MuxHeaders, opener: boolean): MuxStream {
    const s = new MuxStream(this, id, headers, opener, this.limits.initialWindow);
    this.streams.set(id, s);
    this.granted += s.recvWindow;
    return s;
  }

  /** DATA for a stream that is not open: dropped within the credit it had when we closed it. */
  private dataForClosed(id: number, length: number): void {
    this.checkOpened(id, 'DATA');
    const left = this.tombstones.get(id);
    if (left === undefined) return;
    if (length > left) throw flowError(`DATA of ${length} bytes on closed stream ${id}, which had ${left} bytes of credit`);
    if (this.targetFin) this.tombstones.delete(id);
    else this.tombstones.set(id, left - length);
  }

  private tombstone(id: number, credit: number): void {
    // Bounded: past maxStreams, the oldest is forgotten (its late DATA is then dropped unchecked).
    if (this.tombstones.size >= this.limits.maxStreams) this.tombstones.delete(this.tombstones.keys().next().value!);
    this.tombstones.set(id, credit);
  }

  /** A frame for a stream that is not open must name one that was. */
  private checkOpened(id: number, what: string): void {
    const ours = id % 2 === this.nextId % 2;
    if (ours ? id >= this.nextId : id > this.lastPeerId) throw protocolError(`${what} on stream ${id}, which was never opened`);
  }

  // ---- input and the end

  private onSocketData(chunk: Buffer): void {
    if (this.isClosed) return;
    try {
      this.decoder.push(chunk);
    } catch (err) {
      if (!(err instanceof MuxError)) throw err;
      const e = new MuxError(err.code, `peer ${this.who()}${err.message}`, { ...this.ctx(), cause: err });
      this.terminate(`protocol error: ${err.message}`, err.muxCode, true, e);
    }
  }

  /**
   * Ends the session once: every stream gets 'reset' (code, reason) and
   * closes; with `send`, GOAWAY (code, reason) goes out after the queued
   * control frames and the socket is ended (destroyed if it does not flush
   * soon).
   */
  private terminate(reason: string, code: number, send: boolean, err?: MuxError): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.closeReason = reason;
    this.error = err;
    const socket = this.socket;
    this.decoder.stop();
    for (const s of [...this.streams.values()]) s.onPeerReset(code, reason);
    this.tombstones.clear();
    this.scheduler.stop();
    if (send && !socket.destroyed && socket.writable) {
      socket.end(codeFrame(FrameType.GOAWAY, 0, code, reason));
      setTimeout(() => socket.destroy(), GOAWAY_LINGER_MS).unref();
    } else if (!socket.destroyed) socket.destroy();
    this.emit('close', reason, err);
  }

  private who(): string {
    return this.peer === undefined ? '' : `${this.peer} `;
  }

  private ctx(): { peer?: string } {
    return this.peer === undefined ? {} : { peer: this.peer };
  }
}
