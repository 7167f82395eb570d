// The shared TLS set-up: a client and a listener built here agree on TLS 1.3
// and ALPN, the server's name is checked, and every failure is a TlsError
// naming the peer.
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { CertError } from '../pki/errors.js';
import { makeTestPki, type TestPki } from '../pki/testing.js';
import { connectTls } from './connect.js';
import { TlsError, TlsListenError } from './errors.js';
import { TlsListener } from './listen.js';
import { verifyServer } from './verify.js';

let pki: TestPki;
before(async () => (pki = await makeTestPki()));
after(() => pki.cleanup());

async function listener(t: { after(fn: () => unknown): void }, alpn?: string[], timeoutMs = 5000) {
  const events: string[] = [];
  const l = new TlsListener({
    identity: pki.profile('srv'),
    ...(alpn === undefined ? {} : { alpn }),
    unauth: { perSource: 4, total: 8, timeoutMs },
    onGateClose: (why) => events.push(why),
    onTlsError: (_err, source) => events.push(`tls ${source}`),
  });
  l.server.on('secureConnection', (s: TLSSocket) => {
    l.passed(s);
    s.end();
  });
  await l.listen(0, '127.0.0.1');
  t.after(() => l.close());
  return { l, events };
}

test('client and listener agree on TLS 1.3 and ALPN; the server is verified by role and name', async (t) => {
  const { l } = await listener(t, ['insel/1', 'http/1.1']);
  const s = await connectTls({ host: '127.0.0.1', port: l.port, identity: pki.profile('alice'), alpn: ['insel/1'], timeoutMs: 5000 });
  t.after(() => s.destroy());
  assert.equal(s.getProtocol(), 'TLSv1.3');
  assert.equal(s.alpnProtocol, 'insel/1');
  const peer = `127.0.0.1:${l.port}`;
  assert.equal(verifyServer(s, pki.trust, peer, { roles: ['server'], name: '127.0.0.1', pin: (n) => `pin ${n}` }).name, 'srv');
  assert.throws(
    () => verifyServer(s, pki.trust, peer, { roles: ['server'], name: 'other.example', pin: (n) => `pin ${n}` }),
    (err: unknown) => err instanceof CertError && err.code === 'INSEL_CERT_WRONG_NAME' && /pin srv/.test(err.message),
  );
  assert.throws(() => verifyServer(s, pki.trust, peer, { roles: ['hq'], pin: (n) => n }), (err: unknown) => err instanceof CertError && err.code === 'INSEL_CERT_WRONG_ROLE');
});

test('a peer that picks none of our ALPN protocols is refused', async (t) => {
  const { l } = await listener(t, ['http/1.1']);
  await assert.rejects(
    connectTls({ host: '127.0.0.1', port: l.port, identity: pki.profile('alice'), alpn: ['insel/1'], timeoutMs: 5000 }),
    (err: unknown) => err instanceof TlsError && err.code === 'INSEL_TLS_PROTOCOL' && err.peer === `127.0.0.1:${l.port}` && /insel\/1/.test(err.reason),
  );
});

test('a refused connection and a silent peer give TlsErrors naming the peer', async (t) => {
  const silent = createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const port = (silent.address() as AddressInfo).port;
  t.after(() => {
    silent.close();
  });
  await assert.rejects(
    connectTls({ host: '127.0.0.1', port, identity: pki.profile('alice'), timeoutMs: 100 }),
    (err: unknown) => err instanceof TlsError && err.code === 'INSEL_TLS_TIMEOUT' && err.message.includes(`127.0.0.1:${port}`),
  );
  silent.close();
  await assert.rejects(
    connectTls({ host: '127.0.0.1', port, identity: pki.profile('alice'), timeoutMs: 5000, what: 'gateway' }),
    (err: unknown) => err instanceof TlsError && err.code === 'INSEL_TLS_UNREACHABLE' && err.reason === 'connection refused (is the gateway running?)',
  );
});

test('the listener closes garbage and counts it; the gate closes a peer that never finishes TLS', async (t) => {
  const { l, events } = await listener(t, undefined, 200);
  const { connect } = await import('node:net');
  const garbage = connect(l.port, '127.0.0.1', () => garbage.write('GET / HTTP/1.1\r\n\r\n'));
  garbage.on('error', () => undefined);
  const stalled = connect(l.port, '127.0.0.1');
  stalled.on('error', () => undefined);
  await Promise.all([new Promise((r) => garbage.once('close', r)), new Promise((r) => stalled.once('close', r))]);
  for (let i = 0; i < 100 && events.length < 2; i++) await new Promise((r) => setImmediate(r));
  assert.deepEqual([...events].sort(), ['timeout', 'tls 127.0.0.1']);
  assert.deepEqual(l.stats(), { unauthenticated: 0, capped: 0, timedOut: 1, tlsFailures: 1 });
});

test('a TLS server without ALPN is not taken for one that speaks ours', async (t) => {
  const { l } = await listener(t);
  await assert.rejects(
    connectTls({ host: '127.0.0.1', port: l.port, identity: pki.profile('alice'), alpn: ['insel/1'], timeoutMs: 5000 }),
    (err: unknown) => err instanceof TlsError && err.code === 'INSEL_TLS_PROTOCOL',
  );
});

test('a listener on a port already taken says which address and why', async (t) => {
  const { l } = await listener(t);
  const second = new TlsListener({ identity: pki.profile('srv'), unauth: { perSource: 1, total: 1, timeoutMs: 1000 }, onGateClose: () => undefined, onTlsError: () => undefined });
  await assert.rejects(
    second.listen(l.port, '127.0.0.1'),
    (err: unknown) => err instanceof TlsListenError && err.code === 'INSEL_TLS_LISTEN' && err.message === `cannot listen on 127.0.0.1:${l.port}: the port is already in use`,
  );
});
