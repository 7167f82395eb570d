// The CA-mode server and client on loopback: a session end to end, and the
// refusals a peer gets before it holds anything (docs/SECURITY.md).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:tls';
import { InselError } from '../../errors.js';
import { revoke } from '../../pki/crl.js';
import { issueCert } from '../../pki/issue.js';
import { makeTestPki, type TestPki } from '../../pki/testing.js';
import type { RejectedError } from '../../secsock/errors.js';
import { readPackets, writePacket, until } from '../../tun/plane-testing.js';
import { drops, framesUntilClose, rawSession, refusal, startClient, startServer, udp4, POOL_GATEWAY, type ServerExtra } from './server-testing.js';
import { TUN_ALPN, TunFrame } from '../wire.js';

let pki: TestPki;
before(async () => {
  pki = await makeTestPki();
});
after(() => pki.cleanup());

test('a client connects, gets 10.8.0.2, and IP packets cross both ways byte-exact', async (t) => {
  const srv = await startServer(pki);
  t.after(() => srv.close());
  const alice = await startClient(pki, 'alice', srv);
  t.after(() => alice.close());
  assert.equal(alice.address, '10.8.0.2');
  assert.deepEqual(alice.accepts[0]?.ipv4, { address: '10.8.0.2', prefix: 24, gateway: POOL_GATEWAY });
  assert.deepEqual(
    srv.server.clients.map((s) => [s.info.key, s.info.ipv4]),
    [['alice', '10.8.0.2']],
  );

  const out = udp4('10.8.0.2', POOL_GATEWAY, 'hello from alice');
  writePacket(alice.rig.tun, out);
  assert.deepEqual(await readPackets(srv.rig.tun, 1), [out]);

  const back = udp4(POOL_GATEWAY, '10.8.0.2', 'hello from the server');
  writePacket(srv.rig.tun, back);
  assert.deepEqual(await readPackets(alice.rig.tun, 1), [back]);
  assert.equal(alice.client.rung, 'udp');
  assert.match(srv.server.clients[0]!.real, /^127\.0\.0\.1:\d+$/, 'the server follows the client to UDP');
});

test('peers without an acceptable client certificate are told why and hold no session, lease or plane peer', async (t) => {
  const srv = await startServer(pki);
  let closed = false;
  t.after(() => closed || srv.close());
  const ca = pki.profile('alice').ca;

  // No certificate at all: a bare TLS client.
  const bare = connect({ host: '127.0.0.1', port: srv.server.tcpPort, ca, ALPNProtocols: [TUN_ALPN], rejectUnauthorized: false });
  bare.on('error', () => undefined);
  await once(bare, 'secureConnect');
  const frames = await framesUntilClose(bare);
  assert.equal(frames.length, 1);
  assert.equal(frames[0]!.type, TunFrame.REJECT);
  assert.deepEqual(Object.keys(JSON.parse(frames[0]!.text)), ['code', 'message']);
  assert.equal(JSON.parse(frames[0]!.text).code, 'INSEL_CERT_MISSING');
  assert.match(JSON.parse(frames[0]!.text).message, /your certificate was refused: .*presented no certificate/);

  const cases = [
    { name: 'eve (another CA)', as: 'alice', identity: { cert: pki.foreign.cert, key: pki.foreign.key, ca }, code: 'INSEL_CERT_UNKNOWN_CA' },
    { name: 'srv (role server)', as: 'srv', code: 'INSEL_CERT_WRONG_ROLE' },
    { name: 'mallory (revoked)', as: 'mallory', code: 'INSEL_CERT_REVOKED' },
    { name: 'old (expired)', as: 'old', code: 'INSEL_CERT_EXPIRED' },
  ];
  for (const c of cases) {
    const err = (await refusal(pki, c.as, srv, c.identity === undefined ? {} : { identity: c.identity })) as RejectedError;
    assert.equal(err.code, 'INSEL_REJECTED', `${c.name}: ${err.message}`);
    assert.equal(err.peerCode, c.code, `${c.name}: ${err.message}`);
    assert.match(err.message, /refused: your certificate was refused: /, c.name);
  }
  assert.equal(srv.server.clients.length, 0);
  for (const name of ['eve', 'srv', 'mallory', 'old']) assert.equal(srv.pool.peek(name), undefined, `${name} leased nothing`);
  // No plane peer: a packet for the first pool address has no route.
  writePacket(srv.rig.tun, udp4(POOL_GATEWAY, '10.8.0.2', 'anyone there?'));
  await until(() => drops(srv.rig, 'no_route') === 1, 'the no_route drop');
  // ... and the first good client still gets the first address.
  const alice = await startClient(pki, 'alice', srv);
  assert.equal(alice.address, '10.8.0.2');
  alice.close();

  // Anyone can cause a refusal: they are logged as one summary line, not one line each.
  assert.deepEqual(srv.log.lines.filter((l) => /refused|certificate/.test(l)), []);
  closed = true;
  await srv.close();
  const summary = srv.log.lines.filter((l) => l.startsWith('warn: unauthenticated connections closed: '));
  assert.equal(summary.length, 1, srv.log.lines.join('\n'));
  assert.match(summary[0]!, /"refused":5,"sources":1,"reasons":\{"INSEL_CERT_MISSING":1,"INSEL_CERT_UNKNOWN_CA":1,"INSEL_CERT_WRONG_ROLE":1,"INSEL_CERT_REVOKED":1,"INSEL_CERT_EXPIRED":1\}/);
});

test('the client refuses a server without the server role, under another name, or revoked, and tells it why', async () => {
  await issueCert({ dir: pki.dir, role: 'server', name: 'srv2', hosts: ['127.0.0.1'] });
  await revoke({ dir: pki.dir, nameOrSerial: 'srv2' });
  const cases: [string, ServerExtra, string | undefined, string][] = [
    ['a user certificate', { as: 'alice' }, undefined, 'INSEL_CERT_WRONG_ROLE'],
    ['a name not in its certificate', { host: '127.0.0.2' }, '127.0.0.2', 'INSEL_CERT_WRONG_NAME'],
    ['a revoked server', { as: 'srv2' }, undefined, 'INSEL_CERT_REVOKED'],
  ];
  for (const [what, extra, host, code] of cases) {
    const srv = await startServer(pki, extra);
    try {
      const err = await refusal(pki, 'carol', { server: srv.server, ...(host === undefined ? {} : { host }) });
      assert.equal((err as InselError).code, code, `${what}: ${err.message}`);
      assert.deepEqual(srv.server.clients, [], what);
      await until(() => srv.log.lines.some((l) => /^info: client carol \(.*\) refused: the client refused your certificate: /.test(l)), `${what}: the server told`);
    } finally {
      await srv.close();
    }
  }
});

test('max-clients: a third identity is refused; the same identity reconnecting replaces its session and keeps its address', async (t) => {
  await issueCert({ dir: pki.dir, role: 'client', name: 'dave' });
  const srv = await startServer(pki, { maxClients: 2 });
  t.after(() => srv.close());
  const old = await rawSession(pki.profile('alice'), srv);
  t.after(() => old.socket.destroy());
  assert.equal(old.accept.ipv4?.address, '10.8.0.2');
  const carol = await startClient(pki, 'carol', srv);
  t.after(() => carol.close());
  assert.equal(carol.address, '10.8.0.3');

  const full = (await refusal(pki, 'dave', srv)) as RejectedError;
  assert.equal(full.peerCode, 'INSEL_TUNNEL_FULL');
  assert.match(full.message, /maximum of 2 clients \(max-clients\)/);
  assert.equal(srv.pool.peek('dave'), undefined);

  const oldFrames = framesUntilClose(old.socket, old.decoder);
  const alice = await startClient(pki, 'alice', srv);
  t.after(() => alice.close());
  assert.equal(alice.address, '10.8.0.2', 'the same identity keeps its address');
  const told = await oldFrames;
  assert.deepEqual(told.at(-1), { type: TunFrame.CLOSE, text: 'replaced by a new connection of the same identity' });
  assert.deepEqual(srv.server.clients.map((s) => s.info.key).sort(), ['alice', 'carol']);
  // The new session carries data; the old keys are gone with the old peer.
  const out = udp4('10.8.0.2', POOL_GATEWAY, 'new alice');
  writePacket(alice.rig.tun, out);
  assert.deepEqual(await readPackets(srv.rig.tun, 1), [out]);
});

test('two clients of one identity replace each other ever more slowly, not in a tight loop', async (t) => {
  const srv = await startServer(pki);
  t.after(() => srv.close());
  const first = await startClient(pki, 'alice', srv);
  t.after(() => first.close());
  const second = await startClient(pki, 'alice', srv);
  t.after(() => second.close());
  // first is replaced (waits 1 s), replaces second (waits 1 s), which replaces it again: now it waits 2 s.
  await until(() => first.log.lines.some((l) => /replaced by a new connection of the same identity; reconnecting in 2 s/.test(l)), 'the second, longer wait', 10_000);
  assert.ok(second.log.lines.some((l) => /replaced by a new connection of the same identity; reconnecting in 1 s/.test(l)), second.log.lines.join('\n'));
  assert.equal(srv.log.lines.filter((l) => /^info: alice .* connected: 10\.8\.0\.2/.test(l)).length, 4, srv.log.lines.join('\n'));
});

test('passwords: missing or wrong credentials are refused, and the password is never echoed', async (t) => {
  const secret = 'Corr3ct-Horse-Battery';
  const wrong = 'Wr0ng-Guess-4711';
  const srv = await startServer(pki, { checkPassword: async (user, password) => (user === 'alice' && password === secret ? undefined : 'wrong username or password') });
  t.after(() => srv.close());

  const missing = (await refusal(pki, 'alice', srv)) as RejectedError;
  assert.equal(missing.peerCode, 'INSEL_TUNNEL_AUTH');
  assert.match(missing.message, /set auth-user-pass FILE in the client's config/);

  const bad = (await refusal(pki, 'alice', srv, { credentials: { user: 'alice', password: wrong } })) as RejectedError;
  assert.equal(bad.peerCode, 'INSEL_TUNNEL_AUTH');
  assert.match(bad.message, /username\/password refused for alice .*: wrong username or password/);
  assert.equal(srv.server.clients.length, 0);
  assert.equal(srv.pool.peek('alice'), undefined);

  const good = await startClient(pki, 'alice', srv, { credentials: { user: 'alice', password: secret } });
  t.after(() => good.close());
  assert.equal(good.address, '10.8.0.2');

  const said = [missing.message, bad.message, ...srv.log.lines, ...good.log.lines].join('\n');
  assert.ok(srv.log.lines.some((l) => /refused alice .*username\/password refused/.test(l)), srv.log.lines.join('\n'));
  for (const p of [secret, wrong]) assert.ok(!said.includes(p), `the password ${p} appears in:\n${said}`);
});
