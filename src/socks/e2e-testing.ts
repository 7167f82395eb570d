// Helpers for the SOCKS5 end-to-end tests (socks-*.test.ts): a gateway whose
// DNS is a fake server on loopback (so a name only the gateway can resolve
// proves that the client did not resolve it) and a forwarder with -D
// listeners, both in this process (forward/testing.ts); UDP echo servers;
// and a raw TCP client for the bytes real clients never send (the client's
// messages are encoded with testing.ts, the codec's test helpers).
import type { TestContext } from 'node:test';
import { createSocket, type RemoteInfo } from 'node:dgram';
import { connect, createServer, type Socket } from 'node:net';
import { makeTestPki } from '../pki/testing.js';
import { fakeDns, type FakeDns } from '../forward/dns-testing.js';
import { parseDynamicSpec } from '../forward/spec.js';
import { profiles, startForwarder, startGateway, type TestForwarder, type TestGateway } from '../forward/testing.js';
import { Method, SOCKS_VERSION } from './messages.js';
import { encodeGreeting } from './testing.js';
import type { SocksCredentials } from './handshake.js';

export interface SocksSetup {
  tg: TestGateway;
  fw: TestForwarder;
  dns: FakeDns;
  /** the -D listening ports, in the order of `listeners` */
  ports: number[];
}

export interface SocksSetupOptions {
  /** names the gateway's DNS answers (name → IPv4) */
  names?: Record<string, string>;
  /** one -D listener each, on 127.0.0.1 port 0; default one without auth */
  listeners?: { socksAuth?: SocksCredentials }[];
}

/** A gateway (as srv, with `rules`) and alice's forwarder with -D listeners; closed after `t`. */
export async function socksSetup(t: TestContext, rules: string, opts: SocksSetupOptions = {}): Promise<SocksSetup> {
  const pki = await makeTestPki();
  t.after(() => pki.cleanup());
  const p = profiles(pki, ['srv', 'alice']);
  t.after(() => p.cleanup());
  const dns = await fakeDns(opts.names ?? {}, () => false);
  t.after(() => dns.close());
  const tg = await startGateway(p.dir, p.profile('srv'), rules, `[dns]\nservers = ["${dns.server}"]\nhosts_file = ""\n`);
  t.after(() => tg.close());
  const listeners = opts.listeners ?? [{}];
  const fw = await startForwarder(tg.port, p.profile('alice'), listeners.map((l) => ({ ...parseDynamicSpec('127.0.0.1:0'), ...l })));
  t.after(() => fw.close());
  const ports = fw.f.dynamicPorts;
  for (const [i, port] of ports.entries()) {
    const line = `forward -D 127.0.0.1:${port} (SOCKS5${listeners[i]?.socksAuth ? ', username/password' : ''})`;
    if (!fw.info.includes(line)) throw new Error(`the forwarder did not print "${line}": ${fw.info.join(' | ')}`);
  }
  return { tg, fw, dns, ports };
}

export interface RawSocks {
  socket: Socket;
  /** the next `n` bytes; fewer if the connection closes or `ms` passes first */
  read(n: number, ms?: number): Promise<Buffer>;
  /** settles when the connection is closed, with the ms since it was opened */
  closed: Promise<number>;
  isClosed(): boolean;
}

/** A TCP connection to 127.0.0.1:port that writes what a test says and reads byte-exact. */
export async function rawSocks(t: TestContext, port: number): Promise<RawSocks> {
  const opened = Date.now();
  const socket = connect({ host: '127.0.0.1', port });
  t.after(() => void socket.destroy());
  socket.on('error', () => undefined);
  let buffered = Buffer.alloc(0);
  let closed = false;
  let wake: (() => void) | undefined;
  socket.on('data', (b: Buffer) => {
    buffered = Buffer.concat([buffered, b]);
    wake?.();
  });
  const closedAt = new Promise<number>((resolve) =>
    socket.once('close', () => {
      closed = true;
      wake?.();
      resolve(Date.now() - opened);
    }),
  );
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return {
    socket,
    closed: closedAt,
    isClosed: () => closed,
    async read(n, ms = 5000) {
      const end = Date.now() + ms;
      while (buffered.length < n && !closed && Date.now() < end) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, end - Date.now());
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
      }
      const out = buffered.subarray(0, n);
      buffered = buffered.subarray(out.length);
      return out;
    },
  };
}

/** Greets with "no authentication" and checks that the proxy chose it. */
export async function greet(raw: RawSocks): Promise<void> {
  raw.socket.write(encodeGreeting([Method.NO_AUTH]));
  const choice = await raw.read(2);
  if (!choice.equals(Buffer.of(SOCKS_VERSION, Method.NO_AUTH))) throw new Error(`the proxy answered the greeting with ${choice.toString('hex') || 'nothing'}, not 0500`);
}

export interface UdpEchoes {
  /** their ports on 127.0.0.1, in order */
  ports: number[];
  /** datagrams each has received */
  received: number[];
}

/** `n` UDP echo servers on 127.0.0.1, port 0 each (so n distinct ports); closed after `t`. */
export async function udpEchoes(t: TestContext, n: number): Promise<UdpEchoes> {
  const received = Array.from({ length: n }, () => 0);
  const sockets = received.map((_, i) => {
    // One echo takes bursts: a big buffer. Thousands take one datagram each: the default.
    const s = createSocket(n === 1 ? { type: 'udp4', recvBufferSize: 4 << 20 } : { type: 'udp4' });
    s.on('message', (m: Buffer, from: RemoteInfo) => {
      received[i]!++;
      s.send(m, from.port, from.address);
    });
    return s;
  });
  t.after(() => Promise.all(sockets.map((s) => new Promise<void>((r) => s.close(() => r())).catch(() => undefined))));
  await Promise.all(
    sockets.map(
      (s) =>
        new Promise<void>((resolve, reject) => {
          s.once('error', reject);
          s.bind(0, '127.0.0.1', () => resolve());
        }),
    ),
  );
  return { ports: sockets.map((s) => s.address().port), received };
}

/**
 * Why this host has no IPv6 loopback (a container started without IPv6), or
 * undefined. With CI=true its absence throws: CI must run the IPv6 cases.
 */
export async function ipv6LoopbackMissing(): Promise<string | undefined> {
  const server = createServer();
  const why = await new Promise<string | undefined>((resolve) => {
    server.once('error', (err: Error) => resolve(`no IPv6 loopback (::1): ${err.message}`));
    server.listen(0, '::1', () => resolve(undefined));
  });
  server.close();
  if (why !== undefined && process.env['CI'] === 'true') throw new Error(`CI lacks a required capability: ${why}`);
  return why;
}
