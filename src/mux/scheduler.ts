// The send side of a session: what goes to the socket next.
//
//   control frames (OPEN, REPLY, RESET, PING ACK) in order
//   → WINDOW credit, one coalesced frame per stream
//   → DATA of light streams (little queued, little sent since they were idle)
//   → DATA of bulk streams, one frame each in turn
//
// all in one corked pass per event-loop turn, while the socket's
// writableLength is under SOCKET_QUEUE_CAP. A 1-byte echo then waits behind
// at most that much of a bulk transfer, not behind every queued byte.
import type { Duplex } from 'node:stream';
import { LIGHT_BYTES, SOCKET_QUEUE_CAP } from './constants.js';
import { windowFrame } from './frame.js';

/** What the scheduler needs of a stream. */
export interface Sender {
  readonly id: number;
  /** over for the session: nothing more is sent for it */
  readonly released: boolean;
  /** in a light or bulk list */
  queued: boolean;
  /** credit to return to the peer in the next WINDOW frame */
  pendingWindow: number;
  /** it has a frame it may send now */
  sendable(): boolean;
  /** bytes it sent since it was last idle, plus what it has queued */
  load(): number;
  /** writes its next DATA frame (header and payload) to `socket` */
  sendFrame(socket: Duplex, onWritten: () => void): void;
}

export class Scheduler {
  private control: Buffer[] = [];
  private controlBytes = 0;
  private windows: Sender[] = [];
  private light: Sender[] = [];
  private bulk: Sender[] = [];
  private scheduled = false;
  private blocked = false;
  private stopped = false;
  private readonly flushBound = () => this.flush();
  /** passed with every write: the socket took some bytes, so there may be room again */
  private readonly onWritten = () => {
    if (this.blocked && this.socket.writableLength < SOCKET_QUEUE_CAP) {
      this.blocked = false;
      this.schedule();
    }
  };

  constructor(private readonly socket: Duplex) {}

  sendControl(frame: Buffer): void {
    if (this.stopped) return;
    this.control.push(frame);
    this.controlBytes += frame.length;
    this.schedule();
  }

  /** Bytes of control frames not yet handed to the socket. */
  get controlBacklog(): number {
    return this.controlBytes;
  }

  /** `s.pendingWindow` just grew from 0. */
  sendWindow(s: Sender): void {
    if (this.stopped) return;
    this.windows.push(s);
    this.schedule();
  }

  /** `s` may have become sendable (data queued, credit arrived, FIN queued). */
  ready(s: Sender): void {
    if (this.stopped || s.queued || !s.sendable()) return;
    s.queued = true;
    (s.load() <= LIGHT_BYTES ? this.light : this.bulk).push(s);
    this.schedule();
  }

  /** Writes queued control frames now and nothing after; used on the way to GOAWAY. */
  stop(): void {
    if (this.stopped) return;
    if (this.socket.writable) {
      this.socket.cork();
      for (const f of this.control) this.socket.write(f);
      this.socket.uncork();
    }
    this.stopped = true;
    this.control = [];
    this.controlBytes = 0;
    this.windows = [];
    this.light = [];
    this.bulk = [];
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(this.flushBound);
  }

  private flush(): void {
    const socket = this.socket;
    if (this.stopped || socket.destroyed || !socket.writable) {
      this.scheduled = false;
      return;
    }
    // Whatever becomes ready during this pass (a write callback that queues
    // more) is taken by the loop below, so no second pass is scheduled.
    socket.cork();
    let ci = 0;
    for (;;) {
      if (socket.writableLength >= SOCKET_QUEUE_CAP) {
        this.blocked = true;
        break;
      }
      if (ci < this.control.length) {
        const f = this.control[ci++]!;
        this.controlBytes -= f.length;
        socket.write(f, this.onWritten);
        continue;
      }
      const w = this.windows.pop();
      if (w !== undefined) {
        if (w.pendingWindow > 0 && !w.released) socket.write(windowFrame(w.id, w.pendingWindow), this.onWritten);
        w.pendingWindow = 0;
        continue;
      }
      const s = this.light.length > 0 ? this.light.shift() : this.bulk.shift();
      if (s === undefined) break;
      s.queued = false;
      if (!s.sendable()) continue;
      s.sendFrame(socket, this.onWritten);
      this.ready(s);
    }
    if (ci > 0) this.control.splice(0, ci);
    this.scheduled = false;
    socket.uncork();
  }
}
