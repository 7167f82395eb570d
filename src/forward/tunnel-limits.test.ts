// Per-identity limits at the gateway, attacked with a real gateway on
// loopback:
//
//   attacker (raw http2, huge windows) ──▶ stalling proxy ──▶ gateway ──▶ blasters
//                                          (stops reading)
//
// A client that grants itself huge HTTP/2 windows and then stops reading may
// make the gateway queue only [limits] queued_bytes_per_session; sessions,
// forwarded connections and remote listeners beyond their limits are refused
// with 429 INSEL_LIMIT naming the config key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as h2connect, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { connect, createServer, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { makeTestPki } from '../pki/testing.js';
import { profileFiles, readIdentityFiles } from '../config/identity.js';
import { H_BIND } from './protocol.js';
import { ForwardSession, GatewayRefusedError } from './session.js';
import { parseForwardSpec } from './spec.js';
import { echoServer, profiles, startForwarder, startGateway, tcpServer, until } from './testing.js';
import { transfer } from './tunnel-testing.js';

const ALLOW_LOOPBACK = `[[allow]]\nname = "loopback"\nwho = ["user:alice", "user:bob@branch"]\nto = ["127.0.0.1"]\nports = ["*"]\n\n[[allow]]\nname = "listen"\nwho = ["user:alice"]\nto = ["127.0.0.1"]\nports = ["*"]\naction = "listen"\n`;

/** A TCP relay to `port` whose gateway-to-client direction can be stopped: a client that stops reading, as the gateway sees it. */
async function stallingProxy(port: number): Promise<{ port: number; stall(): void; close(): Promise<void> }> {
  const pairs: [Socket, Socket][] = [];
  const server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port });
    pairs.push([client, upstream]);
    for (const s of [client, upstream]) s.on('error', () => undefined);
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as { port: number }).port,
    stall() {
      for (const [client, upstream] of pairs) {
        upstream.unpipe(client);
        upstream.pause();
      }
    },
    close: () =>
      new Promise<void>((r) => {
        for (const p of pairs) for (const s of p) s.destroy();
        server.close(() => r());
      }),
  };
}

/** An HTTP/2 session as `profile`, granting the gateway windows far beyond the defaults. */
async function greedySession(port: number, profile: string): Promise<ClientHttp2Session> {
  const pem = readIdentityFiles(profileFiles(profile));
  const socket = tlsConnect({ host: '127.0.0.1', port, cert: pem.cert, key: pem.key, ca: pem.ca, ALPNProtocols: ['h2'], servername: 'localhost' });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve());
    socket.once('error', reject);
  });
  const h2 = h2connect(`https://127.0.0.1:${port}`, { createConnection: () => socket, settings: { initialWindowSize: 64 << 20 } });
  h2.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    h2.once('connect', () => resolve());
    h2.once('error', reject);
  });
  h2.setLocalWindowSize(1 << 30);
  return h2;
}

function connectStream(h2: ClientHttp2Session, authority: string): Promise<ClientHttp2Stream> {
  return new Promise((resolve, reject) => {
    const s = h2.request({ ':method': 'CONNECT', ':authority': authority });
    s.on('error', () => undefined);
    s.once('response', (h) => (h[':status'] === 200 ? resolve(s) : reject(new Error(`status ${String(h[':status'])}`))));
    s.once('close', () => reject(new Error('stream closed before a response')));
  });
}

const QUEUE_LIMIT = 1 << 20;
const STREAMS = 8;
const PER_STREAM = 8 << 20;

test('a client that stops reading holds at most queued_bytes_per_session at the gateway; others keep working', async (t) => {
  const pki = await makeTestPki();
  const p = profiles(pki, ['srv', 'alice', 'bob']);
  // Each connection gets PER_STREAM bytes as fast as the gateway takes them.
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const blaster = await tcpServer((s) => {
    let sent = 0;
    const more = () => {
      while (sent < PER_STREAM) {
        sent += chunk.length;
        if (!s.write(chunk)) return void s.once('drain', more);
      }
      s.end();
    };
    more();
  });
  const echo = await echoServer();
  const tg = await startGateway(p.dir, p.profile('srv'), ALLOW_LOOPBACK, `[limits]\nqueued_bytes_per_session = ${QUEUE_LIMIT}\n`);
  const proxy = await stallingProxy(tg.port);
  let attacker: ClientHttp2Session | undefined;
  let fw: Awaited<ReturnType<typeof startForwarder>> | undefined;
  t.after(async () => {
    attacker?.destroy();
    await fw?.close();
    await proxy.close();
    await tg.close();
    await blaster.close();
    await echo.close();
    p.cleanup();
    pki.cleanup();
  });
  attacker = await greedySession(proxy.port, p.profile('alice'));
  await Promise.all(Array.from({ length: STREAMS }, () => connectStream(attacker!, `127.0.0.1:${blaster.port}`)));
  const rssBefore = process.memoryUsage().rss;
  proxy.stall();
  // Watch until the gateway's queue stops growing (or would have passed far beyond the limit).
  let most = 0;
  let last = -1;
  let steadySince = Date.now();
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const q = tg.gw.stats().queuedBytes;
    most = Math.max(most, q);
    if (q !== last) [last, steadySince] = [q, Date.now()];
    if (Date.now() - steadySince > 1500 || most > 8 * QUEUE_LIMIT) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  // One write of http2 may land on top of the limit: allow a frame's worth beyond it.
  assert.ok(most <= QUEUE_LIMIT + 128 * 1024, `the gateway queued ${most} bytes for a client that stopped reading (limit ${QUEUE_LIMIT})`);
  // Loosely, the process as a whole: far below what the targets had to send (STREAMS × PER_STREAM = 64 MiB).
  const grown = process.memoryUsage().rss - rssBefore;
  assert.ok(grown < 32 << 20, `the process grew by ${grown} bytes while the client stalled`);
  // Someone else's forward is unaffected.
  fw = await startForwarder(tg.port, p.profile('bob'), [parseForwardSpec('L', `0:127.0.0.1:${echo.port}`)]);
  const r = await transfer(fw.ports[0]!, 4 << 20, 1, 30_000);
  assert.equal(r.receivedHash, r.sentHash);
});

/** The refusal a request got, or a failure if it was served. */
async function refusal(p: Promise<unknown>): Promise<GatewayRefusedError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof GatewayRefusedError) return err;
    throw err;
  }
  throw new Error('served, but should have been refused');
}

function assertLimit(err: GatewayRefusedError, key: string): void {
  assert.equal(err.refusal.status, 429);
  assert.equal(err.code, 'INSEL_LIMIT');
  assert.match(err.message, new RegExp(`\\[limits\\] ${key}`));
  assert.match(err.message, /user alice/);
}

test('sessions, forwarded connections and remote listeners per identity: beyond the limit, 429 INSEL_LIMIT naming the key', async (t) => {
  const pki = await makeTestPki();
  const p = profiles(pki, ['srv', 'alice', 'bob']);
  const echo = await echoServer();
  const tg = await startGateway(p.dir, p.profile('srv'), ALLOW_LOOPBACK, `[limits]\nsessions_per_identity = 2\nstreams_per_identity = 3\nlisteners_per_identity = 1\n`);
  const sessions: ForwardSession[] = [];
  const open = async (who: string) => {
    const s = await ForwardSession.open({ via: { host: '127.0.0.1', port: tg.port }, identity: readIdentityFiles(profileFiles(p.profile(who))), timeoutMs: 10_000 });
    sessions.push(s);
    return s;
  };
  t.after(async () => {
    for (const s of sessions) s.close();
    await tg.close();
    await echo.close();
    p.cleanup();
    pki.cleanup();
  });
  const [a1, a2] = [await open('alice'), await open('alice')];
  // Sessions: a third one for alice is refused with the reason; bob is not affected.
  assertLimit(await refusal(open('alice')), 'sessions_per_identity');
  const b = await open('bob');
  // Forwarded connections count across alice's sessions.
  const target = `127.0.0.1`;
  await a1!.connect(target, echo.port);
  await a1!.connect(target, echo.port);
  const third = await a2!.connect(target, echo.port);
  assertLimit(await refusal(a2!.connect(target, echo.port)), 'streams_per_identity');
  await b.connect(target, echo.port);
  // One ends: alice may open another.
  third.stream.close();
  await until(() => tg.logs.some((l) => l['msg'] === 'connection' && l['who'] === 'alice'), 'the ended connection to be logged (and given back)');
  await a2!.connect(target, echo.port);
  // Remote listeners.
  await a1!.listen({ [H_BIND]: '127.0.0.1:0' });
  assertLimit(await refusal(a2!.listen({ [H_BIND]: '127.0.0.1:0' })), 'listeners_per_identity');
  // A session given back makes room for a new one.
  a2!.close();
  await until(() => tg.gw.stats().sessions === 2, 'alice\'s second session to end');
  await open('alice');
});
