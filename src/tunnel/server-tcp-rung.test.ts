// The transport ladder against a real server: UDP blackholed by the relay,
// the client falls to the TCP rung and data crosses as PACKET frames both
// ways; UDP back, it climbs to UDP and the server follows it there.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeTestPki, type TestPki } from '../pki/testing.js';
import { ManualClock } from '../secsock/clock.js';
import { readPackets, until, writePacket } from '../tun/plane-testing.js';
import { startClient, startServer, udp4, POOL_GATEWAY, type TestClient, type TestServer } from './server-testing.js';

let pki: TestPki;
before(async () => {
  pki = await makeTestPki();
});
after(() => pki.cleanup());

async function roundTrip(srv: TestServer, c: TestClient, text: string): Promise<void> {
  const out = udp4(c.address, POOL_GATEWAY, text);
  writePacket(c.rig.tun, out);
  assert.deepEqual(await readPackets(srv.rig.tun, 1), [out]);
  const back = udp4(POOL_GATEWAY, c.address, `${text}: reply`);
  writePacket(srv.rig.tun, back);
  assert.deepEqual(await readPackets(c.rig.tun, 1), [back]);
}

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
