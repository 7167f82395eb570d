// Per-identity limits at the gateway, attacked with a real gateway on
// loopback:
//
//   attacker (raw insel/1, huge credit) ──▶ stalling proxy ──▶ gateway ──▶ blasters
//                                           (stops reading)
//
// A client that grants the gateway huge credit (WINDOW frames) and then
// stops reading makes the gateway hold a bounded amount per session
// (queued_bytes_per_session), not what the targets send, however many
// streams it opens; sessions, forwarded connections and remote listeners
// beyond their limits are refused with 429 INSEL_LIMIT naming the config
// key; streams and OPENs beyond the session's limits are refused with the
// mux's reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { windowFrame } from '../mux/frame.js';
import { makeTestPki } from '../pki/testing.js';
import { profileFiles, readIdentityFiles } from '../config/identity.js';
import { ask, rawMux, type RawMux } from './mux-testing.js';
import { H_BIND, PATH_INFO } from './protocol.js';
import { ForwardSession, GatewayRefusedError } from './session.js';
import { parseForwardSpec } from './spec.js';
import { echoServer, outcome, profiles, startForwarder, startGateway, tcpServer, until } from './testing.js';
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

const STREAMS = 48;
const PER_STREAM = 8 << 20;
/**
 * queued_bytes_per_session (4 MiB by default) plus, per stream, the one
 * 64 KiB read that finds the session full, plus the socket cap. Per-stream
 * caps alone would let 48 streams hold over 12 MiB.
 */
const HELD_BOUND = 9 << 20;

test('a client that grants huge credit on many streams and stops reading makes the gateway hold at most queued_bytes_per_session; others keep working', async (t) => {
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
  const tg = await startGateway(p.dir, p.profile('srv'), ALLOW_LOOPBACK);
  const proxy = await stallingProxy(tg.port);
  let attacker: RawMux | undefined;
  let fw: Awaited<ReturnType<typeof startForwarder>> | undefined;
  t.after(async () => {
    attacker?.mux.destroy();
    await fw?.close();
    await proxy.close();
    await tg.close();
    await blaster.close();
    await echo.close();
    p.cleanup();
    pki.cleanup();
  });
  attacker = await rawMux(proxy.port, readIdentityFiles(profileFiles(p.profile('alice'))));
  const streams = await Promise.all(Array.from({ length: STREAMS }, () => ask(attacker!.mux, { ':method': 'CONNECT', ':authority': `127.0.0.1:${blaster.port}` }, false)));
  for (const a of streams) assert.equal(a.headers?.[':status'], '200');
  const rssBefore = process.memoryUsage().rss;
  proxy.stall();
  // Stalled first (so our own session never sees the excess), then nearly all the credit a u32 can hold, per stream.
  for (const a of streams) attacker.socket.write(windowFrame(a.stream.id, 0xf000_0000));
  // Watch until the gateway's queue stops growing (or would have passed far beyond the limit).
  let most = 0;
  let last = -1;
  let steadySince = Date.now();
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const q = tg.gw.stats().queuedBytes;
    most = Math.max(most, q);
    if (q !== last) [last, steadySince] = [q, Date.now()];
    if (Date.now() - steadySince > 1500 || most > HELD_BOUND) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(most <= HELD_BOUND, `the gateway queued ${most} bytes for a client that stopped reading`);
  // Loosely, the process as a whole: far below what the targets had to send (STREAMS × PER_STREAM = 384 MiB).
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
  third.stream.destroy();
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

test('streams and OPENs per session: beyond streams_per_session or opens_per_second, the OPEN is refused with the reason; the session lives on', async (t) => {
  const pki = await makeTestPki();
  const p = profiles(pki, ['srv', 'alice']);
  const echo = await echoServer();
  const tg = await startGateway(p.dir, p.profile('srv'), ALLOW_LOOPBACK, `[limits]\nstreams_per_session = 4\nopens_per_second = 20\n`);
  const s = await ForwardSession.open({ via: { host: '127.0.0.1', port: tg.port }, identity: readIdentityFiles(profileFiles(p.profile('alice'))), timeoutMs: 10_000 });
  t.after(async () => {
    s.destroy();
    await tg.close();
    await echo.close();
    p.cleanup();
    pki.cleanup();
  });
  const open = await Promise.all(Array.from({ length: 4 }, () => s.connect('127.0.0.1', echo.port)));
  const over = await refusal(s.connect('127.0.0.1', echo.port));
  assert.equal(over.code, 'INSEL_LIMIT');
  assert.match(over.message, /stream/);
  // One ends: the next OPEN is served on the same session.
  open[0]!.stream.destroy();
  await until(() => tg.logs.filter((l) => l['msg'] === 'connection').length >= 1, 'the ended connection to be logged');
  open[0] = await s.connect('127.0.0.1', echo.port);
  for (const o of open) o.stream.destroy();
  await until(() => tg.logs.filter((l) => l['msg'] === 'connection').length >= 5, 'all connections to end');
  // A burst of OPENs beyond what the bucket holds: some are refused with the reason, none is lost silently.
  const burst = await Promise.all(Array.from({ length: 60 }, () => outcome(s.request({ ':method': 'GET', ':path': PATH_INFO }, true))));
  const refusals = burst.filter((r): r is GatewayRefusedError => r !== 'ok');
  assert.ok(refusals.length > 0 && refusals.length < 60, `${refusals.length} of 60 OPENs refused`);
  for (const r of refusals) {
    assert.equal(r.code, 'INSEL_LIMIT');
    assert.match(r.message, /OPEN|open|per second/);
  }
  assert.equal(tg.gw.stats().sessions, 1, 'the session lives on');
});
