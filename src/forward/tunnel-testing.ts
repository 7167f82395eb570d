// Helpers for the end-to-end tunnel tests (tunnel-*.test.ts): a free port,
// a connection that must be refused by the kernel, and a byte-exact
// transfer through an echo peer, both directions at once.
import { createCipheriv, createHash } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer } from 'node:net';

/** A port that was free a moment ago (bind 0, read it, close). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/**
 * How a connection to 127.0.0.1:port went: 'refused' (ECONNREFUSED: nothing
 * listening), 'accepted' (it connected, whatever happened next), or another
 * error code. Never waits longer than `ms`.
 */
export function tryConnect(port: number, ms = 5000): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    const timer = setTimeout(() => done('timeout'), ms);
    const done = (how: string) => {
      clearTimeout(timer);
      s.destroy();
      resolve(how);
    };
    s.once('connect', () => done('accepted'));
    s.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED' ? 'refused' : (err.code ?? err.message)));
  });
}

export interface Transfer {
  sent: number;
  received: number;
  /** sha256 of what was sent and of what came back */
  sentHash: string;
  receivedHash: string;
}

const CHUNK = 64 * 1024;
const ZEROS = Buffer.alloc(CHUNK);

/**
 * Connects to 127.0.0.1:port (an echo peer, possibly through a tunnel),
 * writes `size` pseudo-random bytes (AES-CTR keystream keyed by `seed`, so
 * each seed gives distinct data) while reading what comes back, honouring
 * write() === false; half-closes after the last byte and resolves at the
 * peer's end. Rejects on error, after `ms`, or when no byte has moved
 * either way for `idleMs` (a stall, reported as such).
 */
export function transfer(port: number, size: number, seed: number, ms = 60_000, idleMs = 15_000): Promise<Transfer> {
  const key = createHash('sha256').update(`insel tunnel test ${seed}`).digest().subarray(0, 16);
  const keystream = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const up = createHash('sha256');
  const down = createHash('sha256');
  const r = { sent: 0, received: 0 };
  const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  return new Promise<Transfer>((resolve, reject) => {
    const started = Date.now();
    let moved = started;
    let last = 0;
    const timer = setInterval(() => {
      if (r.sent + r.received !== last) [last, moved] = [r.sent + r.received, Date.now()];
      else if (Date.now() - moved > idleMs) fail(new Error(`transfer ${seed}: stalled, nothing moved for ${idleMs} ms (sent ${r.sent}, received ${r.received})`));
      if (Date.now() - started > ms) fail(new Error(`transfer ${seed}: not done within ${ms} ms (sent ${r.sent}, received ${r.received})`));
    }, 500);
    const fail = (err: Error) => {
      clearInterval(timer);
      socket.destroy();
      reject(err);
    };
    socket.on('error', (err) => fail(new Error(`transfer ${seed}: ${err.message} (sent ${r.sent}, received ${r.received})`, { cause: err })));
    socket.on('data', (b: Buffer) => {
      r.received += b.length;
      down.update(b);
    });
    socket.once('end', () => {
      clearInterval(timer);
      socket.end();
      resolve({ ...r, sentHash: up.digest('hex'), receivedHash: down.digest('hex') });
    });
    socket.once('connect', () => {
      void (async () => {
        while (r.sent < size) {
          const b = keystream.update(ZEROS.subarray(0, Math.min(CHUNK, size - r.sent)));
          up.update(b);
          r.sent += b.length;
          if (!socket.write(b)) await once(socket, 'drain');
        }
        socket.end();
      })().catch((err: Error) => fail(err));
    });
  });
}
