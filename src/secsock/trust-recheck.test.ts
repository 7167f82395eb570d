// A new CRL reaches open channels, both transports: SecServer.setTrust
// re-verifies every open channel's peer chain and closes those now refused,
// telling the peer why. Performs the attack: alice (a leaf) and bob (issued
// by site CA branch) are revoked while their channels are open and keep
// sending; carol is not revoked and keeps her channel.
//
//   alice ──┐
//   bob ────┼── SecServer (srv) ── setTrust(ca, crl naming alice and branch)
//   carol ──┘
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { revoke } from '../pki/crl.js';
import { issueCert } from '../pki/issue.js';
import { makeTestPki } from '../pki/testing.js';
import type { SecChannel } from './channel.js';
import { connect } from './client.js';
import { SecServer } from './server.js';
import { take, type TestPki } from './testing.js';
import { FrameType } from './constants.js';
import { encodeFrame } from './frame.js';
import type { TcpChannel } from './tcp-channel.js';
import type { UdpChannel } from './udp-channel.js';

/** Resolves with the channel's next message or null, or fails after `ms`. */
async function recvWithin(ch: SecChannel, ms: number, what: string): Promise<Buffer | null> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([ch.recv(), new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

async function setup(t: TestContext, transport: 'tcp' | 'udp') {
  const pki: TestPki = await makeTestPki();
  t.after(() => pki.cleanup());
  const server = await SecServer.listen({ transport, identity: pki.profile('srv') });
  const open: SecChannel[] = [];
  t.after(async () => {
    await Promise.all(open.map((c) => c.close().catch(() => undefined)));
    await server.close();
  });
  const join = async (name: string) => {
    const [client, accepted] = await Promise.all([connect({ transport, host: '127.0.0.1', port: server.port, identity: pki.profile(name) }), server.accept()]);
    open.push(client, accepted);
    assert.equal(accepted.peer.name, name);
    return { client, accepted };
  };
  return { pki, server, alice: await join('alice'), bob: await join('bob'), carol: await join('carol') };
}

for (const transport of ['tcp', 'udp'] as const) {
  describe(`SecServer.setTrust re-verifies open ${transport} channels`, () => {
    it('closes the channels of a revoked leaf and of a revoked site CA within 1 s, with the reason; keeps the rest', async (t) => {
      const { pki, server, alice, bob, carol } = await setup(t, transport);
      await revoke({ dir: pki.dir, nameOrSerial: 'alice', reason: 'keyCompromise' });
      await revoke({ dir: pki.dir, nameOrSerial: 'branch', reason: 'cACompromise' });
      const srv = pki.profile('srv');
      const refused = server.setTrust(srv.ca, srv.crl);

      assert.deepEqual(refused.map((r) => [r.channel.peer.name, r.code]).sort(), [
        ['alice', 'INSEL_CERT_REVOKED'],
        ['bob', 'INSEL_CERT_REVOKED'],
      ]);
      assert.equal(alice.accepted.isClosed, true, "alice's channel is closed at once");
      assert.equal(bob.accepted.isClosed, true, "bob's channel is closed at once");
      assert.equal(await recvWithin(alice.client, 1000, "alice's CLOSE"), null);
      assert.equal(await recvWithin(bob.client, 1000, "bob's CLOSE"), null);
      assert.match(alice.client.peerCloseReason, /no longer accepted: certificate of user alice .*is revoked/);
      assert.match(bob.client.peerCloseReason, /no longer accepted: certificate of user bob .*site CA branch, which is revoked/);

      await carol.client.send(Buffer.from('still here'));
      assert.equal((await take(carol.accepted, 1))[0]!.toString(), 'still here');
      assert.equal(server.setTrust(srv.ca, srv.crl).length, 0, 'a second reload finds nothing more to close');
    });
  });
}

describe('SecServer.setTrust against a hostile UDP client', () => {
  it('a revoked client that ignores CLOSE and keeps sending gets nothing delivered', async (t) => {
    const { pki, server, alice } = await setup(t, 'udp');
    await alice.client.send(Buffer.from('before'));
    assert.equal((await take(alice.accepted, 1))[0]!.toString(), 'before');
    // The attacker's end drops whatever the server sends, CLOSE included, and keeps its keys.
    (alice.client as UdpChannel).session.receive = () => undefined;
    await revoke({ dir: pki.dir, nameOrSerial: 'alice' });
    const srv = pki.profile('srv');
    const dropsBefore = server.stats().udpDrops.unknown_channel ?? 0;
    assert.equal(server.setTrust(srv.ca, srv.crl).length, 1);
    for (let i = 0; i < 20; i++) await alice.client.send(Buffer.from(`after ${i}`));
    const deadline = Date.now() + 5000;
    while ((server.stats().udpDrops.unknown_channel ?? 0) - dropsBefore < 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal((server.stats().udpDrops.unknown_channel ?? 0) - dropsBefore, 20, 'every datagram after the reload matched no channel');
    assert.equal(await alice.accepted.recv(), null, 'nothing was delivered after the reload');
    assert.equal(alice.accepted.stats().messagesIn, 1);
  });
});

describe('SecServer.setTrust against a hostile TCP client', () => {
  it('a revoked client that keeps writing DATA frames after the reload gets nothing delivered', async (t) => {
    const { pki, server, alice } = await setup(t, 'tcp');
    await revoke({ dir: pki.dir, nameOrSerial: 'alice' });
    const srv = pki.profile('srv');
    assert.equal(server.setTrust(srv.ca, srv.crl).length, 1);
    // Raw frames on the client's TLS socket, whatever the server said.
    const socket = (alice.client as TcpChannel).tlsSocket;
    for (let i = 0; i < 20; i++) socket.write(encodeFrame(FrameType.DATA, 0, Buffer.from(`after ${i}`)));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await alice.accepted.recv(), null, 'nothing was delivered after the reload');
    assert.equal(alice.accepted.stats().messagesIn, 0);
  });
});

describe('SecServer.setIdentity (a renewed certificate)', () => {
  it('new UDP channels get the new certificate; open ones stay', async (t) => {
    const { pki, server, alice } = await setup(t, 'udp');
    await issueCert({ dir: pki.dir, role: 'server', name: 'srv2', hosts: ['127.0.0.1'] });
    server.setIdentity(pki.profile('srv2'));
    const [client, accepted] = await Promise.all([connect({ transport: 'udp', host: '127.0.0.1', port: server.port, identity: pki.profile('carol') }), server.accept()]);
    t.after(() => Promise.all([client.close(), accepted.close()]).then(() => undefined, () => undefined));
    assert.equal(client.peer.name, 'srv2');
    assert.equal(alice.client.peer.name, 'srv');
    await alice.client.send(Buffer.from('still here'));
    assert.equal((await take(alice.accepted, 1))[0]!.toString(), 'still here');
  });
});
