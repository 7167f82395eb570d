// Test fixture for the CA-mode server and client, in process and on
// loopback only (no root, no namespaces): a TunnelServer and TunnelClients,
// each on a Plane whose "TUN" is one end of a SOCK_SEQPACKET pair
// (tun/plane-testing.ts), real TLS and real UDP, certificates from a
// throwaway PKI (pki/testing.ts). Optionally the clients' UDP goes through a
// relay the test can blackhole and whose datagrams it can replay.
//
//   const pki = await makeTestPki();
//   const srv = await startServer(pki);                     t.after(() => srv.close());
//   const alice = await startClient(pki, 'alice', srv);     // 10.8.0.2
//   writePacket(alice.rig.tun, udp4('10.8.0.2', '10.8.0.1', 'hi'));
//   await readPackets(srv.rig.tun, 1);
import assert from 'node:assert/strict';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { writeSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import type { TestPki } from '../../pki/testing.js';
import type { IdentityPem } from '../../pki/profile.js';
import { realClock } from '../../secsock/clock.js';
import { freshNonce, readFrame } from '../../secsock/handshake.js';
import { HASHES } from '../../secsock/algorithms.js';
import type { FrameDecoder } from '../../secsock/frame.js';
import { connectTls } from '../../tls/connect.js';
import { ipPacket, readPackets, rig, writePacket, type Rig } from '../../tun/plane-testing.js';
import { TunnelClient, type TunnelClientOptions } from '../client/client.js';
import type { TunnelLog } from '../log.js';
import { AddressPool } from '../pool/pool.js';
import { TunnelServer, type TunnelServerOptions } from './server.js';
import { TUN_ALPN, TUN_VERSION, TunFrame, decodeAccept, encodeJson, newTunDecoder, type TunAccept } from '../wire.js';

/** A TunnelLog that keeps every line, for assertions on what was said (and what never was). */
export interface CapturedLog extends TunnelLog {
  lines: string[];
}

export function capturedLog(): CapturedLog {
  const lines: string[] = [];
  return { lines, info: (m) => void lines.push(`info: ${m}`), warn: (m) => void lines.push(`warn: ${m}`), debug: (m) => void lines.push(`debug: ${m}`) };
}

/**
 * A UDP relay in front of the server's plane: one upstream socket per client
 * address, so the server sees (and answers) each client separately. `drop`
 * blackholes both directions; every client → server datagram is kept in `sent`.
 */
export interface Relay {
  port: number;
  drop: boolean;
  /** client → server datagrams, forwarded or not */
  sent: Buffer[];
  forwarded: number;
  /** sends a datagram to the server as if from a client's upstream socket (the first one) */
  inject(datagram: Buffer): void;
  close(): void;
}

async function bound(): Promise<Socket> {
  const s = createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  return s;
}

export async function startRelay(serverPort: number): Promise<Relay> {
  const front = await bound();
  const ups = new Map<string, Socket>();
  const relay: Relay = {
    port: front.address().port,
    drop: false,
    sent: [],
    forwarded: 0,
    inject: (d) => [...ups.values()][0]?.send(d, serverPort, '127.0.0.1'),
    close() {
      front.close();
      for (const u of ups.values()) u.close();
    },
  };
  front.on('message', (m: Buffer, from: RemoteInfo) => {
    relay.sent.push(m);
    if (relay.drop) return;
    const key = `${from.address}:${from.port}`;
    let up = ups.get(key);
    if (up === undefined) {
      const s = createSocket('udp4');
      s.bind(0, '127.0.0.1');
      s.on('message', (back: Buffer) => relay.drop || front.send(back, from.port, from.address));
      ups.set(key, s);
      up = s;
    }
    relay.forwarded++;
    up.send(m, serverPort, '127.0.0.1');
  });
  return relay;
}

export interface TestServer {
  server: TunnelServer;
  rig: Rig;
  pool: AddressPool;
  log: CapturedLog;
  relay: Relay | undefined;
  close(): Promise<void>;
}

export type ServerExtra = Partial<Omit<TunnelServerOptions, 'plane' | 'identity' | 'pool' | 'log'>> & {
  relay?: boolean;
  /** the profile it presents (default srv) */
  as?: string;
};

/** The pool 10.8.0.0/24: the server is 10.8.0.1, clients get .2, .3, ... */
export const POOL_GATEWAY = '10.8.0.1';

/** A server as `srv` (or extra.as) on 127.0.0.1 (or extra.host; ephemeral ports), pool 10.8.0.0/24, keepalive [10, 60]. */
export async function startServer(pki: TestPki, extra: ServerExtra = {}): Promise<TestServer> {
  const r = rig();
  const maxClients = extra.maxClients ?? 10;
  const pool = new AddressPool({ file: 'test', server: { network: '10.8.0.0', prefix: 24 }, maxClients }, () => undefined);
  const log = capturedLog();
  const relay = extra.relay === true ? await startRelay(r.udp.port) : undefined;
  const { relay: _relay, as = 'srv', ...options } = extra;
  const server = new TunnelServer({
    plane: r.plane,
    identity: pki.profile(as),
    host: '127.0.0.1',
    tcpPort: 0,
    udpPort: relay?.port ?? r.udp.port,
    pool,
    ipv4: { gateway: POOL_GATEWAY, prefix: 24 },
    routes: [],
    redirectGateway: false,
    mtu: 1420,
    keepaliveS: [10, 60],
    aeads: ['aes-256-gcm', 'chacha20-poly1305'],
    handshakeTimeoutMs: 5000,
    unauth: { perSource: 16, total: 64, timeoutMs: 5000 },
    now: () => Date.now(),
    ...options,
    maxClients,
    log,
  });
  await server.listen();
  return {
    server,
    rig: r,
    pool,
    log,
    relay,
    async close() {
      await server.close();
      relay?.close();
      r.close();
    },
  };
}

export interface TestClient {
  client: TunnelClient;
  rig: Rig;
  log: CapturedLog;
  accepts: TunAccept[];
  /** the first session's IPv4 address */
  address: string;
  close(): void;
}

export type ClientExtra = Partial<Omit<TunnelClientOptions, 'plane' | 'log' | 'onAccept' | 'onMtu'>>;

/** What a client needs of the server it dials. */
export interface Dialable {
  server: { tcpPort: number };
  /** the name the client dials (default 127.0.0.1) */
  host?: string;
}

function clientOptions(pki: TestPki, name: string, srv: Dialable, extra: ClientExtra, r: Rig, log: CapturedLog, accepts: TunAccept[]): TunnelClientOptions {
  return {
    plane: r.plane,
    identity: pki.profile(name),
    remotes: [{ host: srv.host ?? '127.0.0.1', port: 0, tcpPort: srv.server.tcpPort }],
    aeads: ['aes-256-gcm', 'chacha20-poly1305'],
    tcpOnly: false,
    maxDatagram: 1452,
    handshakeTimeoutMs: 5000,
    onAccept: async (a) => void accepts.push(a),
    onMtu: () => undefined,
    log,
    clock: realClock,
    ...extra,
  };
}

/** A client as `name` (a profile of pki, or `extra.identity`), its first session up; the rig is closed if start fails. */
export async function startClient(pki: TestPki, name: string, srv: Dialable, extra: ClientExtra = {}): Promise<TestClient> {
  const r = rig();
  const log = capturedLog();
  const accepts: TunAccept[] = [];
  const client = new TunnelClient(clientOptions(pki, name, srv, extra, r, log, accepts));
  try {
    await client.start();
  } catch (err) {
    client.close();
    r.close();
    throw err;
  }
  return {
    client,
    rig: r,
    log,
    accepts,
    address: accepts[0]?.ipv4?.address ?? '',
    close() {
      client.close();
      r.close();
    },
  };
}

/** Why a client's first start failed (it must fail). */
export async function refusal(pki: TestPki, name: string, srv: Dialable, extra: ClientExtra = {}): Promise<Error> {
  const c = await startClient(pki, name, srv, extra).then(
    (c) => c,
    (err: Error) => err,
  );
  if (c instanceof Error) return c;
  c.close();
  throw new Error(`${name} was accepted, with ${c.address}`);
}

/** A bare control connection as `identity` with ALPN insel-tun/1: the test speaks (or does not speak) the protocol itself. */
export function rawConnect(identity: IdentityPem, srv: TestServer): Promise<TLSSocket> {
  return connectTls({ host: '127.0.0.1', port: srv.server.tcpPort, identity, alpn: [TUN_ALPN], timeoutMs: 5000 });
}

/** A hand-made session: HELLO sent, ACCEPT read; the socket is left paused (it reads nothing more until told). */
export async function rawSession(identity: IdentityPem, srv: TestServer): Promise<{ socket: TLSSocket; decoder: FrameDecoder; accept: TunAccept }> {
  const socket = await rawConnect(identity, srv);
  socket.write(encodeJson(TunFrame.HELLO, { v: TUN_VERSION, aeads: ['aes-256-gcm'], hashes: [...HASHES], nonce: freshNonce().toString('hex') }));
  const decoder = newTunDecoder();
  const f = await readFrame(socket, decoder, 5000, 'ACCEPT');
  if (f.type !== TunFrame.ACCEPT) throw new Error(`expected ACCEPT, got frame type ${f.type}: ${f.payload.toString('utf8')}`);
  return { socket, decoder, accept: decodeAccept(f.payload, 'test') };
}

/** Frames the server sends until it closes the connection (bounded by the caller's test timeout). */
export async function framesUntilClose(socket: TLSSocket, decoder: FrameDecoder = newTunDecoder()): Promise<{ type: number; text: string }[]> {
  const out: { type: number; text: string }[] = [];
  socket.on('data', (chunk: Buffer) => {
    decoder.push(chunk);
    for (let f = decoder.next(); f !== undefined; f = decoder.next()) out.push({ type: f.type, text: f.payload.toString('utf8') });
  });
  socket.resume();
  if (!socket.destroyed) await once(socket, 'close');
  return out;
}

/** Writes `pkt` into a "TUN" fd until `done()` (yielding to the loop so the plane reads); returns how many were written. */
export async function flood(fd: number, pkt: Buffer, done: () => boolean, max = 200_000): Promise<number> {
  let sent = 0;
  for (let i = 0; !done() && i < max; i++) {
    try {
      writeSync(fd, pkt);
      sent++;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    }
    if (i % 64 === 63) await new Promise((r) => setImmediate(r));
  }
  return sent;
}

/** A minimal valid IPv4/UDP packet (UDP checksum 0: none, allowed on IPv4). */
export function udp4(src: string, dst: string, text: string, port = 5000): Buffer {
  const payload = Buffer.from(text, 'utf8');
  const udp = Buffer.alloc(8 + payload.length);
  udp.writeUInt16BE(port, 0);
  udp.writeUInt16BE(port, 2);
  udp.writeUInt16BE(udp.length, 4);
  payload.copy(udp, 8);
  return ipPacket(src, dst, 17, udp);
}

/** A packet from the client's "TUN" arrives at the server's byte-exact, and a reply comes back the same. */
export async function roundTrip(srv: TestServer, c: TestClient, text: string): Promise<void> {
  const out = udp4(c.address, POOL_GATEWAY, text);
  writePacket(c.rig.tun, out);
  assert.deepEqual(await readPackets(srv.rig.tun, 1), [out]);
  const back = udp4(POOL_GATEWAY, c.address, `${text}: reply`);
  writePacket(srv.rig.tun, back);
  assert.deepEqual(await readPackets(c.rig.tun, 1), [back]);
}

/** A drop counter of the plane (its totals, or one peer's). */
export function drops(r: Rig, reason: string, peerId?: number): number {
  const st = peerId === undefined ? r.plane.stats() : r.plane.stats(peerId);
  return st?.drops[reason] ?? 0;
}
