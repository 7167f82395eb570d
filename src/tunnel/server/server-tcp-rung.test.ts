// The transport ladder against a real server: UDP blackholed by the relay,
// the client falls to the TCP rung and data crosses as PACKET frames both
// ways; UDP back, it climbs to UDP and the server follows it there. And a
// server that stops reading the rung cannot make the client buffer without bound.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createServer, type TLSSocket } from 'node:tls';
import { makeTestPki, type TestPki } from '../../pki/testing.js';
import { ManualClock } from '../../secsock/clock.js';
import { readFrame } from '../../secsock/handshake.js';
import { until } from '../../tun/plane-testing.js';
import { flood, roundTrip, startClient, startServer, udp4, POOL_GATEWAY } from './server-testing.js';
import { TUN_ALPN, TunFrame, encodeJson, newTunDecoder } from '../wire.js';

let pki: TestPki;
before(async () => {
  pki = await makeTestPki();
});
after(() => pki.cleanup());

test('UDP blocked: the client falls to the TCP rung, packets flow both ways, and it climbs back when UDP returns', async (t) => {
  const srv = await startServer(pki, { relay: true });
  t.after(() => srv.close());
  const relay = srv.relay!;
  relay.drop = true;
  const clock = new ManualClock();
  const alice = await startClient(pki, 'alice', srv, { clock });
  t.after(() => alice.close());
  const step = (ms: number) => {
    clock.advance(ms);
    alice.client.tick();
  };
  for (let i = 0; i < 8 && alice.client.rung === 'udp'; i++) step(250);
  assert.equal(alice.client.rung, 'tcp');
  assert.match(alice.client.rungWhy, new RegExp(`no UDP reply from 127\\.0\\.0\\.1:${relay.port} within 1\\.0 s of starting`));

  await roundTrip(srv, alice, 'over TCP');
  assert.equal(relay.forwarded, 0, 'nothing went over UDP');
  const session = srv.server.clients[0]!;
  assert.equal(session.real, 'tcp');

  relay.drop = false;
  step(5000); // the ladder's UDP retry: a KEEPALIVE over UDP, answered over UDP
  await until(() => alice.client.rung === 'udp', 'the climb back to UDP');
  const viaUdp = relay.forwarded;
  await roundTrip(srv, alice, 'over UDP again');
  assert.ok(relay.forwarded > viaUdp, 'the data went through the relay');
  assert.match(session.real, /^127\.0\.0\.1:\d+$/, 'the server follows the client to UDP');
  assert.equal(alice.address, '10.8.0.2');
  assert.equal(alice.accepts.length, 1, 'the same session throughout');
});

test('a server that stops reading the TCP rung costs the client packets (tcpDropped), not its memory', async (t) => {
  // A hostile server: it accepts the session, then never reads again.
  const id = pki.profile('srv');
  const held: TLSSocket[] = [];
  const fake = createServer({ key: id.key, cert: id.cert, ca: id.ca, requestCert: true, rejectUnauthorized: false, ALPNProtocols: [TUN_ALPN] }, (s) => {
    held.push(s);
    s.on('error', () => undefined);
    void readFrame(s, newTunDecoder(), 5000, 'HELLO').then(() => {
      const accept = { v: 1, aead: 'aes-256-gcm', hash: 'sha256', nonce: 'ab'.repeat(32), channelId: 7, udpPort: 9, mtu: 1420, keepalive: [10, 60] };
      s.write(encodeJson(TunFrame.ACCEPT, { ...accept, ipv4: { address: '10.8.0.2', prefix: 24, gateway: POOL_GATEWAY }, routes: [], redirectGateway: false }));
    });
  });
  fake.listen(0, '127.0.0.1');
  await once(fake, 'listening');
  t.after(() => {
    for (const s of held) s.destroy();
    fake.close();
  });
  const tcpPort = (fake.address() as AddressInfo).port;
  const alice = await startClient(pki, 'alice', { server: { tcpPort } }, { tcpOnly: true, clock: new ManualClock() });
  t.after(() => alice.close());
  assert.equal(alice.client.rung, 'tcp');

  const pkt = udp4('10.8.0.2', POOL_GATEWAY, 'y'.repeat(1400));
  const sent = await flood(alice.rig.tun, pkt, () => alice.client.tcpDropped >= 100);
  assert.ok(alice.client.tcpDropped >= 100, `only ${alice.client.tcpDropped} dropped of ${sent}`);
  const kept = (sent - alice.client.tcpDropped) * (pkt.length + 32 + 6);
  assert.ok(kept < 16 * 2 ** 20, `${kept} bytes kept for a server that does not read`);
});
