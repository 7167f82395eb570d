// Revocation reaches everything a user has open at the gateway, both
// transports (issue 12, finding 4). For a revoked leaf (alice) and for a
// user whose SITE CA is revoked (bob, issued by branch):
//
//   local UDP socket ──► Forwarder -U ══ UDP channel ═══╗
//   local TCP socket ──► Forwarder -L ══ HTTP/2 session ═╬══► Gateway ──► UDP echo / TCP echo
//   curl-like client ── HTTP/1.1 CONNECT tunnel ═════════╣    (reload with the new CRL)
//   attacker (same certificate) ══ own UDP channel ══════╝
//
// The attacker's channel ignores the gateway's CLOSE and keeps sending on
// its flow and opening a new one. After the reload: every channel, flow,
// stream and tunnel of that user is gone, nothing more reaches the target,
// and the forwarder says why. Every wait has a deadline; all is closed in
// t.after.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { revoke } from '../pki/crl.js';
import { exportProfile } from '../pki/export.js';
import { makeTestPki } from '../pki/testing.js';
import { connect as secConnect } from '../secsock/client.js';
import type { UdpChannel } from '../secsock/udp-channel.js';
import { profileFiles, readIdentityFiles } from '../config/identity.js';
import { parseForwardSpec } from './spec.js';
import { echoServer, profiles, startForwarder, startGateway, until } from './testing.js';
import { decodeFlowMessage, encodeData, encodeOpen, FlowType } from '../udpflow/wire.js';

const LOOP = '127.0.0.1';
const RULES = `[[allow]]\nname = "users on loopback"\nwho = ["user:alice", "user:bob@branch"]\nto = ["127.0.0.1"]\nports = ["*"]\nproto = ["tcp", "udp"]\n`;

function bound(t: TestContext): Promise<UdpSocket> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, LOOP, () => resolve(s));
    t.after(() => new Promise<void>((r) => s.close(() => r())));
  });
}

/** A UDP echo server counting what reached it. */
async function udpEcho(t: TestContext) {
  const s = await bound(t);
  let received = 0;
  s.on('message', (m: Buffer, from: RemoteInfo) => {
    received++;
    s.send(m, from.port, from.address);
  });
  return { port: s.address().port, received: () => received };
}

function tcpOpen(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = tcpConnect({ host: LOOP, port });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

function closed(s: { once(e: 'close', f: () => void): unknown }): { done: boolean } {
  const state = { done: false };
  s.once('close', () => (state.done = true));
  return state;
}

const cases = [
  { what: "the user's leaf certificate", user: 'alice', revoked: 'alice', says: /certificate of user alice .*is revoked/ },
  { what: "the SITE CA that issued the user's certificate", user: 'bob', revoked: 'branch', says: /site CA branch, which is revoked/ },
];

describe('reload with a new CRL cuts every channel, flow, stream and tunnel of a revoked identity', () => {
  for (const c of cases) {
    it(`when ${c.what} is revoked`, async (t) => {
      const pki = await makeTestPki();
      t.after(() => pki.cleanup());
      const p = profiles(pki, ['srv', c.user]);
      t.after(() => p.cleanup());
      const udp = await udpEcho(t);
      const tcp = await echoServer();
      t.after(() => tcp.close());
      const gw = await startGateway(p.dir, p.profile('srv'), RULES);
      t.after(() => gw.close());
      const fwd = await startForwarder(gw.port, p.profile(c.user), [parseForwardSpec('U', `0:${LOOP}:${udp.port}`), parseForwardSpec('L', `0:${LOOP}:${tcp.port}`)], {
        reconnectMinMs: 100,
        reconnectMaxMs: 400,
      });
      t.after(() => fwd.close());
      const [tcpPort, udpPort] = fwd.ports as [number, number];

      // Before: a UDP flow through -U, a TCP stream through -L, an HTTP/1.1 CONNECT tunnel.
      const app = await bound(t);
      let echoed = 0;
      app.on('message', () => echoed++);
      app.send('before', udpPort, LOOP);
      await until(() => echoed === 1, 'the first datagram echoed through -U', 5000);
      const stream = await tcpOpen(tcpPort);
      t.after(() => stream.destroy());
      stream.write('ping');
      await new Promise((r) => stream.once('data', r));
      const id = readIdentityFiles(profileFiles(p.profile(c.user)));
      const tunnel = tlsConnect({ host: LOOP, port: gw.port, key: id.key, cert: id.cert, ca: id.ca, ALPNProtocols: ['http/1.1'] });
      tunnel.on('error', () => undefined);
      t.after(() => tunnel.destroy());
      await new Promise((r) => tunnel.once('secureConnect', r));
      let answer = '';
      tunnel.on('data', (b: Buffer) => (answer += b.toString()));
      tunnel.write(`CONNECT ${LOOP}:${tcp.port} HTTP/1.1\r\nHost: ${LOOP}:${tcp.port}\r\n\r\n`);
      await until(() => /^HTTP\/1\.1 200/.test(answer), 'the CONNECT tunnel', 5000);

      // The attacker: the same certificate, its own channel and flow, deaf to CLOSE.
      const attacker = (await secConnect({ transport: 'udp', host: LOOP, port: gw.gw.udpChannelTcpPort!, identity: id })) as UdpChannel;
      t.after(() => attacker.close());
      await attacker.send(encodeOpen(7, LOOP, udp.port));
      const opened = await attacker.recv();
      assert.equal(decodeFlowMessage(opened!).type, FlowType.OPENED);
      await attacker.send(encodeData(7, Buffer.from('attacker before')));
      await until(() => udp.received() === 2, 'the attacker datagram before the reload', 5000);
      attacker.session.receive = () => undefined;
      assert.deepEqual([gw.gw.stats().udp?.channels, gw.gw.stats().udp?.flows], [2, 2]);

      const streamClosed = closed(stream);
      const tunnelClosed = closed(tunnel);
      await revoke({ dir: pki.dir, nameOrSerial: c.revoked, reason: 'keyCompromise' });
      exportProfile({ dir: pki.dir, name: 'srv', out: p.profile('srv'), force: true });
      const cut = gw.reload(RULES);

      // At the gateway, at once: both channels and their flows, the session, the tunnel.
      assert.equal(cut.udpChannels, 2, 'both UDP channels of the revoked identity are cut');
      assert.equal(cut.sessions, 1);
      assert.deepEqual([gw.gw.stats().udp?.channels, gw.gw.stats().udp?.flows], [0, 0], 'no channel and no flow left');
      const line = gw.logs.find((l) => l.msg === 'udp channel cut');
      assert.equal(line?.code, 'INSEL_CERT_REVOKED');
      assert.match(String(line?.reason), c.says);
      await until(() => streamClosed.done && tunnelClosed.done, 'the -L stream and the HTTP/1.1 tunnel closed', 1000);

      // The attack: more data on the old flow, a new flow, and the client's own source again.
      const reached = udp.received();
      await attacker.send(encodeData(7, Buffer.from('attacker after')));
      await attacker.send(encodeOpen(8, LOOP, udp.port));
      await attacker.send(encodeData(8, Buffer.from('new flow')));
      app.send('after', udpPort, LOOP);
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(udp.received(), reached, 'nothing reached the target after the reload');
      assert.equal(gw.gw.stats().udp?.flows, 0, 'no new flow opened');

      // The client: its UDP channel is gone and it says why; its session too.
      await until(() => fwd.warn.some((l) => l.startsWith('-U ') && c.says.test(l)), 'the forwarder to report why its UDP channel closed', 5000);
      await until(() => fwd.warn.some((l) => l.startsWith('session with gateway lost') && c.says.test(l)), 'the forwarder to report the lost session', 5000);
      await until(() => fwd.warn.some((l) => l.startsWith('-L ') && l.includes('closed by the gateway') && c.says.test(l)), 'the forwarder to report why its -L connection was cut', 5000);
      t.diagnostic(fwd.warn.join('\n'));
    });
  }
});

describe('the forwarder and its UDP channel', () => {
  it('drops the UDP channel when the session with the gateway is lost, says why, and reopens it with the session', async (t) => {
    const pki = await makeTestPki();
    t.after(() => pki.cleanup());
    const p = profiles(pki, ['srv', 'alice']);
    t.after(() => p.cleanup());
    const udp = await udpEcho(t);
    const gw = await startGateway(p.dir, p.profile('srv'), RULES);
    t.after(() => gw.close());
    const fwd = await startForwarder(gw.port, p.profile('alice'), [parseForwardSpec('U', `0:${LOOP}:${udp.port}`)], { reconnectMinMs: 1500 });
    t.after(() => fwd.close());
    const app = await bound(t);
    let echoed = 0;
    app.on('message', () => echoed++);
    app.send('before', fwd.ports[0]!, LOOP);
    await until(() => echoed === 1, 'the first datagram echoed', 5000);

    fwd.f.session!.close(); // the session ends; the gateway keeps the UDP channel unless the client lets it go
    await until(() => gw.gw.stats().udp?.channels === 0, 'the gateway to see the UDP channel closed', 1000);
    assert.ok(fwd.warn.some((l) => l.startsWith('-U ') && /channel to the gateway closed, the session is lost/.test(l)), fwd.warn.join('\n'));

    await until(() => gw.gw.stats().udp?.channels === 1, 'the UDP channel reopened with the session', 10_000);
    app.send('after', fwd.ports[0]!, LOOP);
    await until(() => echoed === 2, 'a datagram echoed on the reopened channel', 5000);
  });
});
