// Attacks before authentication on the connection-phase port (loopback):
// stalled TCP connections, certificate-less TLS clients, a certificate
// holder that never sends HELLO. Each is closed (at once, or at the
// handshake timeout), beyond the caps new ones are closed at accept, and a
// real client still gets its channel meanwhile.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tlsConnect } from 'node:tls';
import { makeTestPki } from '../pki/testing.js';
import { certless, closedWithin, holdStalled, readToClose, waitUntil, type Held } from '../net/testing.js';
import { connect } from './client.js';
import { FrameType } from './constants.js';
import { FrameDecoder } from './frame.js';
import { SecServer } from './server.js';
import type { TestPki } from './testing.js';

let pki: TestPki;
before(async () => {
  pki = await makeTestPki();
});
after(() => pki.cleanup());

const LIMITS = { handshakeTimeoutMs: 1500, unauthenticatedPerSource: 4, unauthenticatedTotal: 12 };

async function server(): Promise<{ srv: SecServer; errors: { code?: string }[] }> {
  const srv = await SecServer.listen({ transport: 'tcp', identity: pki.profile('srv'), ...LIMITS });
  const errors: { code?: string }[] = [];
  srv.on('handshakeError', (e: { code?: string }) => errors.push(e));
  return { srv, errors };
}

/** A real client's round trip: proves the server still serves while the attack goes on. */
async function realClientWorks(srv: SecServer): Promise<void> {
  const [c, a] = await Promise.all([connect({ transport: 'tcp', host: '127.0.0.1', port: srv.port, identity: pki.profile('alice') }), srv.accept()]);
  try {
    await c.send(Buffer.from('still here'));
    assert.equal((await a.recv())?.toString(), 'still here');
  } finally {
    await c.close();
    await a.close();
  }
}

test('stalled TCP connections: beyond the per-source cap closed at accept, the rest at the handshake timeout; a real client still connects', async () => {
  const { srv, errors } = await server();
  const held = await holdStalled(srv.port, 10, '127.0.0.2');
  try {
    await realClientWorks(srv);
    // 6 over the cap of 4 were closed at accept (INSEL_UNAUTH_LIMIT, not the timeout).
    assert.ok(await waitUntil(() => errors.filter((e) => e.code === 'INSEL_UNAUTH_LIMIT').length === 6 && held.closed() >= 6, 5000), `caps: ${JSON.stringify(errors.map((e) => e.code))}`);
    for (const s of held.sockets) assert.ok(await closedWithin(s, 10_000), 'a stalled connection outlived the handshake timeout');
    assert.equal(errors.filter((e) => e.code === 'INSEL_HANDSHAKE_TIMEOUT').length, 4);
  } finally {
    held.destroy();
    await srv.close();
  }
});

test('total cap: stalled connections from many sources fill it, then new ones are closed at accept', async () => {
  const { srv, errors } = await server();
  const all: Held[] = [];
  try {
    for (const from of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) all.push(await holdStalled(srv.port, 4, from));
    all.push(await holdStalled(srv.port, 3, '127.0.0.5'));
    assert.ok(await waitUntil(() => errors.filter((e) => e.code === 'INSEL_UNAUTH_LIMIT').length === 3 && all[3]!.closed() === 3, 5000), `caps: ${JSON.stringify(errors.map((e) => e.code))}`);
    assert.equal(all.slice(0, 3).reduce((n, h) => n + h.closed(), 0), 0);
  } finally {
    for (const h of all) h.destroy();
    await srv.close();
  }
});

test('a TLS client without a certificate gets REJECT at once and is closed, without sending anything', async () => {
  const { srv, errors } = await server();
  const attackers = Array.from({ length: 20 }, () => certless(srv.port, [], '127.0.0.2'));
  try {
    const s = certless(srv.port, [], '127.0.0.3');
    const { data, closed } = await readToClose(s, 5000);
    assert.ok(closed, 'the refused connection stayed open');
    const decoder = new FrameDecoder(64 * 1024);
    decoder.push(data);
    const frame = decoder.next();
    assert.equal(frame?.type, FrameType.REJECT);
    assert.match(frame!.payload.toString(), /INSEL_CERT_MISSING/);
    for (const a of attackers) assert.ok(await closedWithin(a, 5000), 'a certificate-less client was not closed');
    await realClientWorks(srv);
    assert.ok(errors.some((e) => e.code === 'INSEL_CERT_MISSING'));
  } finally {
    for (const a of attackers) a.destroy();
    await srv.close();
  }
});

test('a certificate holder that never sends HELLO is closed at the handshake timeout', async () => {
  const { srv, errors } = await server();
  const alice = pki.profile('alice');
  const s = tlsConnect({ port: srv.port, host: '127.0.0.1', key: alice.key, cert: alice.cert, ca: alice.ca, rejectUnauthorized: false });
  s.on('error', () => undefined);
  try {
    assert.ok(await closedWithin(s, 10_000), 'the silent client stayed connected');
    assert.ok(errors.some((e) => e.code === 'INSEL_HANDSHAKE_TIMEOUT'));
  } finally {
    s.destroy();
    await srv.close();
  }
});
