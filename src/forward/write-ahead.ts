// The socket under an HTTP/2 session, seen through a Duplex that confirms
// writes at once up to a bound. Node's http2 stops reading its socket while
// one of its own writes is pending (its CVE-2019-9517 guard). When both ends
// of a session send at full speed, each one's write waits for the other to
// read, and neither reads: a deadlock (seen with 12+ concurrent 1 MiB echoes
// over one session). What a well-behaved peer can make us queue is bounded by
// the flow-control window it was granted (protocol.ts), so below that bound
// we confirm at once and keep reading; a peer that stops reading its socket
// still meets backpressure beyond the bound.
//
// The gateway passes its own, smaller bound ([limits] queued_bytes_per_session):
// a client that grants huge windows and stops reading then holds at most that
// much here, because http2 completes a stream's write only once its bytes are
// written to this socket, so the stream stops taking data and pipe() pauses
// the target. That stays deadlock-free: the client's bound (WRITE_AHEAD_BYTES)
// is above the session window the gateway grants it, so the client always
// keeps reading.
import { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { SESSION_WINDOW } from './protocol.js';

/** Bytes queued on the socket before writes wait for 'drain' (the client's bound). */
export const WRITE_AHEAD_BYTES = 4 * SESSION_WINDOW;

export class WriteAhead extends Duplex {
  private waiting: (() => void) | undefined;

  constructor(
    readonly tls: TLSSocket,
    private readonly bound = WRITE_AHEAD_BYTES,
  ) {
    super({ allowHalfOpen: true });
    tls.on('data', (b: Buffer) => {
      if (!this.push(b)) tls.pause();
    });
    tls.on('end', () => this.push(null));
    tls.on('drain', () => {
      const w = this.waiting;
      this.waiting = undefined;
      w?.();
    });
    tls.on('error', (err: Error) => this.destroy(err));
    tls.on('close', () => this.destroy());
  }

  override _read(): void {
    this.tls.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.tls.write(chunk);
    if (this.tls.writableLength < this.bound) done();
    else this.waiting = () => done();
  }

  override _final(done: (err?: Error | null) => void): void {
    this.tls.end();
    done();
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.tls.destroy(err ?? undefined);
    done(err);
  }

  // What http2 and our logs ask of a socket.
  get remoteAddress(): string | undefined {
    return this.tls.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.tls.remotePort;
  }

  get localAddress(): string | undefined {
    return this.tls.localAddress;
  }

  get localPort(): number | undefined {
    return this.tls.localPort;
  }
}
