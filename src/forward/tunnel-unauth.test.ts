// Attacks before authentication on the gateway's TLS port (loopback; the
// attacker binds 127.0.0.2, the real user comes from 127.0.0.1): stalled
// TCP connections, certificate-less insel/1 and HTTP/1.1 clients, a client
// that never finishes its request headers. Each is closed (at once, or at
// the handshake timeout), beyond the caps new ones are closed at accept, a
// real user still forwards meanwhile, and the log stays a few lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tlsConnect } from 'node:tls';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTestPki } from '../pki/testing.js';
import { certless, closedWithin, holdStalled, readToClose, type Held } from '../net/testing.js';
import { ask, rawMux } from './mux-testing.js';
import { PATH_INFO } from './protocol.js';
import { parseForwardSpec } from './spec.js';
import { ALLOW_ALICE_LOOPBACK, echoServer, profiles, startForwarder, startGateway, until } from './testing.js';
import { transfer } from './tunnel-testing.js';

const LIMITS = `[limits]\nunauthenticated_per_source = 4\nunauthenticated_total = 12\nhandshake_timeout = "3s"\n`;
const SUMMARY = 'unauthenticated connections closed';

/** A certificate-less insel/1 client from `from`: its first request's answer (status, insel-code) and whether the session then closed. */
async function certlessMux(port: number, from: string): Promise<{ status: number; code: string; closed: boolean }> {
  const c = await rawMux(port, undefined, from);
  let timer: NodeJS.Timeout | undefined;
  try {
    const a = await ask(c.mux, { ':method': 'GET', ':path': PATH_INFO });
    await Promise.race([c.closed, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('no close within 10 s')), 10_000)))]);
    return { status: Number(a.headers?.[':status']), code: String(a.headers?.['insel-code']), closed: true };
  } finally {
    clearTimeout(timer);
    c.mux.destroy();
  }
}

test('pre-authentication attacks on the gateway', async (t) => {
  const pki = await makeTestPki();
  const p = profiles(pki, ['srv', 'alice']);
  const echo = await echoServer();
  const tg = await startGateway(p.dir, p.profile('srv'), ALLOW_ALICE_LOOPBACK, LIMITS);
  const started = Date.now();
  const held: Held[] = [];
  t.after(async () => {
    for (const h of held) h.destroy();
    await tg.close().catch(() => undefined);
    await echo.close();
    p.cleanup();
    pki.cleanup();
  });
  const realUserForwards = async () => {
    const fw = await startForwarder(tg.port, p.profile('alice'), [parseForwardSpec('L', `0:127.0.0.1:${echo.port}`)]);
    try {
      const r = await transfer(fw.ports[0]!, 256 * 1024, 1);
      assert.equal(r.receivedHash, r.sentHash);
    } finally {
      await fw.close();
    }
  };

  await t.test('stalled TCP connections: beyond the per-source cap closed at accept, the rest at the handshake timeout; a real user still forwards', async () => {
    const before = tg.gw.stats().unauth;
    const h = await holdStalled(tg.port, 20, '127.0.0.2');
    held.push(h);
    // 16 over the cap of 4 are closed at accept (counted as capped, not as timed out); 4 wait for their timeout.
    await until(() => tg.gw.stats().unauth.capped - before.capped === 16, 'the 16 connections over the cap to be closed', 5000);
    const now = tg.gw.stats().unauth;
    assert.equal(now.unauthenticated + now.timedOut - before.timedOut, 4, 'the 4 within the cap are held until their timeout');
    await until(() => h.closed() >= 16, 'the client side to see them closed', 5000);
    await realUserForwards();
    for (const s of h.sockets) assert.ok(await closedWithin(s, 10_000), 'a stalled connection outlived the handshake timeout');
    assert.equal(tg.gw.stats().unauth.timedOut - before.timedOut, 4);
  });

  await t.test('total cap: stalled connections from many sources fill it, then new ones are closed at accept', async () => {
    const before = tg.gw.stats().unauth;
    for (const from of ['127.0.0.3', '127.0.0.4', '127.0.0.5']) held.push(await holdStalled(tg.port, 4, from));
    const late = await holdStalled(tg.port, 3, '127.0.0.6');
    held.push(late);
    await until(() => tg.gw.stats().unauth.capped - before.capped === 3, 'the 3 connections over the total cap to be closed', 5000);
    assert.equal(tg.gw.stats().unauth.unauthenticated, 12, 'a connection within the caps was closed at once');
    await until(() => late.closed() === 3, 'the client side to see them closed', 5000);
    for (const x of held) x.destroy();
    await until(() => tg.gw.stats().unauth.unauthenticated === 0, 'the gateway to see them gone', 5000);
  });

  await t.test('certificate-less insel/1 clients get their 403 and are closed at once; a real user still forwards', async () => {
    const many = await Promise.all(Array.from({ length: 12 }, (_, i) => certlessMux(tg.port, `127.0.0.${10 + (i % 3)}`)));
    for (const r of many) assert.ok(r.closed);
    assert.ok(many.every((r) => r.status === 403 && r.code === 'INSEL_CERT_MISSING'), JSON.stringify(many));
    // One that sends no request at all is closed too, long before the handshake timeout would matter: after its linger.
    const silent = certless(tg.port, ['insel/1'], '127.0.0.13');
    assert.ok(await closedWithin(silent, 5000), 'a silent certificate-less insel/1 client stayed connected');
    await realUserForwards();
    // Only the real user ever held a session; once it left, none remain.
    await until(() => tg.gw.stats().sessions === 0, 'no sessions left', 5000);
  });

  await t.test('certificate-less HTTP/1.1 clients get their 403 and are closed, keep-alive or not', async () => {
    const clients = Array.from({ length: 12 }, (_, i) => certless(tg.port, ['http/1.1'], `127.0.0.${20 + (i % 3)}`));
    const answers = clients.map((c) => {
      c.write(`GET http://127.0.0.1:${echo.port}/ HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: keep-alive\r\n\r\n`);
      return readToClose(c, 5000);
    });
    for (const a of await Promise.all(answers)) {
      assert.ok(a.closed, 'a refused HTTP/1.1 client stayed connected');
      assert.match(a.data.toString(), /^HTTP\/1\.1 403 .*insel-code: INSEL_CERT_MISSING/is);
    }
  });

  await t.test('HTTP/1.1: a verified client that never finishes its request headers is closed', async () => {
    const alice = { key: readFileSync(join(p.profile('alice'), 'key.pem')), cert: readFileSync(join(p.profile('alice'), 'cert.pem')) };
    const s = tlsConnect({ port: tg.port, host: '127.0.0.1', ...alice, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    s.on('error', () => undefined);
    s.write('GET http://127.0.0.1/ HTTP/1.1\r\nhost: 127.0.0.1\r\n');
    try {
      const r = await readToClose(s, 10_000);
      assert.ok(r.closed, 'a client with half a request stayed connected');
    } finally {
      s.destroy();
    }
  });

  await t.test('the log has a few aggregated lines, not one per connection', async () => {
    await tg.close();
    const lines = tg.logs.filter((l) => l.msg === SUMMARY);
    const perEvent = tg.logs.filter((l) => ['tls handshake failed', 'session refused'].includes(String(l.msg)));
    assert.equal(perEvent.length, 0, JSON.stringify(perEvent[0]));
    // One line per 10 s at most, plus one at close.
    assert.ok(lines.length >= 1 && lines.length <= Math.ceil((Date.now() - started) / 10_000) + 1, `${lines.length} summary lines`);
    const total = (k: string) => lines.reduce((n, l) => n + Number(l[k] ?? 0), 0);
    assert.ok(total('capped') >= 19 && total('timedOut') >= 4 && total('refused') >= 24, JSON.stringify(lines));
  });
});
