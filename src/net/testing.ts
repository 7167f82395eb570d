// Attack helpers for the pre-authentication tests (loopback only): many
// stalled TCP connections from one source address (127.0.0.x binds on
// Linux loopback, so "another client" is another address), certificate-less
// TLS clients, and waits with deadlines for a socket to be closed.
import { once } from 'node:events';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

/** Connections held open; `closed` counts those the server closed. */
export interface Held {
  sockets: Socket[];
  closed(): number;
  destroy(): void;
}

/** Opens `n` TCP connections to 127.0.0.1:port from `from` (e.g. "127.0.0.2") that never send a byte. */
export async function holdStalled(port: number, n: number, from: string): Promise<Held> {
  const sockets: Socket[] = [];
  let closed = 0;
  const held = { sockets, closed: () => closed, destroy: () => sockets.forEach((s) => s.destroy()) };
  try {
    for (let i = 0; i < n; i++) {
      const s = tcpConnect({ port, host: '127.0.0.1', localAddress: from });
      s.on('error', () => undefined);
      s.once('close', () => closed++);
      s.resume(); // reads (nothing comes): so the server's FIN is seen at once
      sockets.push(s);
      await Promise.race([once(s, 'connect'), once(s, 'close')]);
    }
  } catch (err) {
    held.destroy();
    throw err;
  }
  return held;
}

/** A TLS client without a certificate, offering `alpn`. */
export function certless(port: number, alpn: string[], from: string): TLSSocket {
  const raw = tcpConnect({ port, host: '127.0.0.1', localAddress: from });
  raw.on('error', () => undefined);
  const s = tlsConnect({ socket: raw, rejectUnauthorized: false, ALPNProtocols: alpn });
  s.on('error', () => undefined);
  s.once('close', () => raw.destroy());
  return s;
}

/** Resolves true when `s` closes, false if it is still open after `ms`. */
export function closedWithin(s: Socket, ms: number): Promise<boolean> {
  if (s.destroyed && s.closed) return Promise.resolve(true);
  if (s.listenerCount('data') === 0) s.resume(); // a socket that does not read never sees the server's FIN
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    s.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Everything `s` receives until it closes (or `ms` passes). */
export function readToClose(s: Socket, ms: number): Promise<{ data: Buffer; closed: boolean }> {
  const chunks: Buffer[] = [];
  s.on('data', (b: Buffer) => chunks.push(b));
  return closedWithin(s, ms).then((closed) => ({ data: Buffer.concat(chunks), closed }));
}

/** Polls `pred` every 20 ms; false if it is still false after `ms`. */
export async function waitUntil(pred: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}
