// The fast path between a stream and a local socket: no Duplex machinery in
// between. DATA pieces go to the socket in one corked write per frame and
// are credited back as the socket takes them; socket data goes straight to
// the stream's out queue, and the socket is paused while that queue, or all
// the session's queues together, are long (credit or the scheduler hold
// them back). Half-close both ways; a socket
// error resets the stream (CANCEL), a stream reset destroys the socket.
//
// The socket should allow half-open (allowHalfOpen: true): otherwise its
// FIN ends our writes to it too, and bytes the peer still sends are lost.
import type { Socket } from 'node:net';
import { MuxCode, SPLICE_QUEUE_CAP } from './constants.js';
import type { MuxStream } from './stream.js';

export function spliceSocket(stream: MuxStream, local: Socket): Promise<void> {
  const closed = (s: { destroyed: boolean; closed: boolean; once(e: 'close', f: () => void): unknown }) =>
    new Promise<void>((resolve) => (s.closed ? resolve() : s.once('close', () => resolve())));
  const done = Promise.all([closed(stream), closed(local)]).then(() => undefined);
  if (stream.destroyed) {
    local.destroy();
    return done;
  }
  if (local.destroyed) {
    stream.reset(MuxCode.CANCEL, 'local socket closed before the splice');
    return done;
  }
  stream.attach(local);
  // Paused while this stream's queue or the session's queues together are
  // long: a peer that stops reading holds at most maxQueuedPerSession here.
  const full = (): boolean => stream.outQueued > SPLICE_QUEUE_CAP || stream.session.overQueued(room);
  const room = (): void => {
    if (local.isPaused() && !stream.isReset && !full()) local.resume();
  };
  stream.onOutDrained = room;
  local.on('data', (b: Buffer) => {
    stream.enqueue(b);
    if (full()) local.pause();
  });
  local.on('end', () => stream.queueFin());
  local.on('error', (e: Error) => stream.reset(MuxCode.CANCEL, `local socket: ${e.message}`));
  // Closed after both FINs is clean (our FIN may still wait for credit);
  // closed any other way, the stream cannot finish.
  local.on('close', () => {
    if (!(local.readableEnded && local.writableFinished)) stream.reset(MuxCode.CANCEL, 'local socket closed');
  });
  local.resume();
  return done;
}
