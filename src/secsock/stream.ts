// A Node Duplex over a channel: each write() becomes one message, each
// received message is pushed as one chunk. Reading pauses while the
// consumer's buffer is full, so TCP backpressure reaches the peer.
import { Duplex } from 'node:stream';
import type { SecChannel } from './channel.js';

export function channelStream(ch: SecChannel): Duplex {
  let reading = false;
  const pump = async (d: Duplex) => {
    if (reading) return;
    reading = true;
    try {
      for (;;) {
        const m = await ch.recv();
        if (m === null) {
          d.push(null);
          return;
        }
        if (!d.push(m)) return;
      }
    } catch (err) {
      d.destroy(err as Error);
    } finally {
      reading = false;
    }
  };
  return new Duplex({
    read() {
      void pump(this);
    },
    write(chunk: Buffer, _enc, cb) {
      ch.send(chunk).then(() => cb(), cb);
    },
    final(cb) {
      ch.close().then(() => cb(), cb);
    },
    destroy(err, cb) {
      if (!ch.isClosed) void ch.close(err ? err.message : '');
      cb(err);
    },
  });
}
