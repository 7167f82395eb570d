// How a CA-mode session ends: a CRL reload that revokes a connected client
// cuts it at once, everywhere, and a connection mid-authorize is checked
// again (docs/SECURITY.md "Revocation"); a client that goes silent is cut at
// the keepalive timeout.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { revoke } from '../../pki/crl.js';
import { issueCert } from '../../pki/issue.js';
import { makeTestPki, type TestPki } from '../../pki/testing.js';
import { ManualClock } from '../../secsock/clock.js';
import { drain, readPackets, until, writePacket } from '../../tun/plane-testing.js';
import type { RejectedError } from '../../secsock/errors.js';
import { drops, refusal, startClient, startServer, udp4, POOL_GATEWAY } from './server-testing.js';

let pki: TestPki;
before(async () => {
  pki = await makeTestPki();
});
after(() => pki.cleanup());

test('revocation: setTrust with a CRL naming a connected client cuts it, removes its plane peer and refuses it again', async (t) => {
  await issueCert({ dir: pki.dir, role: 'client', name: 'dan' });
  const srv = await startServer(pki, { relay: true });
  t.after(() => srv.close());
  const relay = srv.relay!;
  const dan = await startClient(pki, 'dan', srv, { clock: new ManualClock() });
  t.after(() => dan.close());
  const alice = await startClient(pki, 'alice', srv);
  t.after(() => alice.close());
  const first = udp4(dan.address, POOL_GATEWAY, 'dan, while still trusted');
  writePacket(dan.rig.tun, first);
  assert.deepEqual(await readPackets(srv.rig.tun, 1), [first]);
  const danId = srv.server.clients.find((s) => s.info.key === 'dan')!.id;

  // A datagram dan sealed while trusted, held back by the relay, to be delivered after the revocation.
  relay.drop = true;
  const n = relay.sent.length;
  const late = udp4(dan.address, POOL_GATEWAY, 'dan, late');
  writePacket(dan.rig.tun, late);
  // dan's DATA datagram (its channel id, its size): alice's keepalives and probes pass the relay too.
  const isHeld = (d: Buffer) => d.readUInt32BE(2) === danId && d.length === late.length + 32;
  await until(() => relay.sent.slice(n).some(isHeld), 'the held datagram');
  const held = relay.sent.slice(n).find(isHeld)!;
  relay.drop = false;

  await revoke({ dir: pki.dir, nameOrSerial: 'dan', reason: 'keyCompromise' });
  const fresh = pki.profile('srv');
  assert.equal(srv.server.setTrust(fresh.ca, fresh.crl), 1);
  // Synchronously: the session and its plane peer are gone.
  assert.deepEqual(srv.server.clients.map((s) => s.info.key), ['alice']);
  assert.equal(srv.rig.plane.stats(danId), undefined);
  assert.ok(srv.log.lines.some((l) => /^info: dan \(.*\) disconnected: your certificate is no longer accepted: .*revoked/.test(l)), srv.log.lines.join('\n'));

  await until(() => dan.log.lines.some((l) => /session lost: the server closed the session: your certificate is no longer accepted: .*revoked/.test(l)), 'dan told why');
  const unknown = drops(srv.rig, 'unknown_channel');
  relay.inject(held);
  await until(() => drops(srv.rig, 'unknown_channel') > unknown, 'the held datagram dropped as unknown_channel');
  // dan dials again at once and is refused for the revocation.
  await until(() => dan.log.lines.some((l) => /cannot reach .*refused: your certificate was refused: .*revoked/.test(l)), "dan's reconnect refused");
  assert.ok(!srv.server.clients.some((s) => s.info.key === 'dan'));
  assert.deepEqual(drain(srv.rig.tun), [], 'nothing of dan reached the TUN after the revocation');

  const out = udp4(alice.address, POOL_GATEWAY, 'alice is unaffected');
  writePacket(alice.rig.tun, out);
  assert.deepEqual(await readPackets(srv.rig.tun, 1), [out]);
});

test('revocation during the password check: the connection is checked again when the check completes', async (t) => {
  await issueCert({ dir: pki.dir, role: 'client', name: 'erin' });
  let release: () => void = () => undefined;
  let asked = false;
  const checked = new Promise<void>((r) => (release = r));
  const srv = await startServer(pki, {
    checkPassword: async () => {
      asked = true;
      await checked;
      return undefined;
    },
  });
  t.after(() => srv.close());
  const start = refusal(pki, 'erin', srv, { credentials: { user: 'erin', password: 'pw-of-erin' } });
  await until(() => asked, 'the password check to begin');
  await revoke({ dir: pki.dir, nameOrSerial: 'erin' });
  const fresh = pki.profile('srv');
  assert.equal(srv.server.setTrust(fresh.ca, fresh.crl), 0, 'no session to cut yet');
  release();
  const err = (await start) as RejectedError;
  assert.equal(err.peerCode, 'INSEL_CERT_REVOKED', err.message);
  assert.deepEqual(srv.server.clients, []);
  assert.equal(srv.pool.peek('erin'), undefined);
});

test('keepalive timeout: a client whose datagrams stop arriving is cut with the reason', async (t) => {
  const srv = await startServer(pki, { relay: true, keepaliveS: [1, 2] });
  t.after(() => srv.close());
  const alice = await startClient(pki, 'alice', srv, { clock: new ManualClock() });
  t.after(() => alice.close());
  const out = udp4(alice.address, POOL_GATEWAY, 'alive');
  writePacket(alice.rig.tun, out);
  assert.deepEqual(await readPackets(srv.rig.tun, 1), [out]);
  const session = srv.server.clients[0]!;

  srv.relay!.drop = true; // alice goes silent (her keepalives are lost, as on a dead path)
  await until(() => (srv.server.tick(), session.isClosed), 'the keepalive cut', 6000);
  assert.ok(srv.log.lines.some((l) => /alice .* disconnected: nothing from you for 2 s \(keepalive timeout\)/.test(l)), srv.log.lines.join('\n'));
  await until(() => alice.log.lines.some((l) => /the server closed the session: nothing from you for 2 s/.test(l)), 'alice told why');
});

test('keepalive timeout: a client that never sends a datagram is cut by the server clock', async (t) => {
  const clock = new ManualClock();
  const srv = await startServer(pki, { keepaliveS: [10, 60], now: () => clock.now() });
  t.after(() => srv.close());
  // TCP only and never ticked: nothing but the handshake ever comes from it.
  const alice = await startClient(pki, 'alice', srv, { tcpOnly: true, clock: new ManualClock() });
  t.after(() => alice.close());
  const session = srv.server.clients[0]!;
  clock.advance(59_000);
  srv.server.tick();
  assert.equal(session.isClosed, false);
  clock.advance(2000);
  srv.server.tick();
  assert.equal(session.isClosed, true);
  assert.equal(srv.rig.plane.stats(session.id), undefined);
});
