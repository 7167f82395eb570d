// A forwarded connection's data path: a mux stream joined to its TCP socket
// by MuxStream.splice (frames straight to socket writes, no Duplex pipes),
// with the byte counts and end reason the connection log needs, read from
// the socket's own counters so the hot path counts nothing.
import type { Socket } from 'node:net';
import type { MuxStream } from '../mux/index.js';
import type { Splice, SpliceResult } from './splice.js';

/**
 * Joins `stream` and `socket` both ways. `socketIs` names the socket's side
 * for the result: at the gateway it is the target ("up" = bytes written to
 * it), at the client the local connection ("up" = bytes read from it).
 */
export function join(stream: MuxStream, socket: Socket, socketIs: 'client' | 'target'): Splice {
  const r: SpliceResult = { up: 0, down: 0, end: '' };
  const why = (s: string) => {
    if (r.end === '') r.end = s;
  };
  const streamIs = socketIs === 'client' ? 'target' : 'client';
  // The socket's EOF: its side closed; our end() to it: the stream's side did.
  socket.once('end', () => why(`${socketIs} closed`));
  socket.once('finish', () => why(`${streamIs} closed`));
  socket.once('error', (e: Error) => why(`${socketIs} error: ${e.message}`));
  stream.once('reset', (_code: number, reason: string) => why(`${streamIs} reset${reason ? `: ${reason}` : ''}`));
  const done = stream.splice(socket).then(() => {
    why(`${streamIs} closed`);
    const [read, written] = [socket.bytesRead, socket.bytesWritten];
    r.up = socketIs === 'client' ? read : written;
    r.down = socketIs === 'client' ? written : read;
    return r;
  });
  return {
    done,
    cut(reason) {
      why(reason);
      socket.destroy();
    },
  };
}
