// A hostile peer of the CA-mode server (docs/SECURITY.md): a stalled or
// garbled control connection, spoofed source addresses, and a client that
// stops reading its TCP rung. Each attack gets its defence checked, and the
// server keeps serving an honest client throughout.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { encodeFrame } from '../../secsock/frame.js';
import { makeTestPki, type TestPki } from '../../pki/testing.js';
import { drain, readPackets, until, writePacket } from '../../tun/plane-testing.js';
import { drops, flood, framesUntilClose, rawConnect, rawSession, roundTrip, startClient, startServer, udp4, POOL_GATEWAY } from './server-testing.js';
import { MAX_PENDING_PER_IDENTITY } from './server.js';
import { TunFrame, encodeJson } from '../wire.js';

let pki: TestPki;
before(async () => {
  pki = await makeTestPki();
});
after(() => pki.cleanup());

function header(type: number, length: number): Buffer {
  const h = Buffer.alloc(6);
  h[0] = type;
  h.writeUInt32BE(length, 2);
  return h;
}

test('an authenticated peer that never says HELLO, or says nonsense, is refused and closed', async (t) => {
  const srv = await startServer(pki, { handshakeTimeoutMs: 300 });
  t.after(() => srv.close());
  const carol = await startClient(pki, 'carol', srv);
  t.after(() => carol.close());

  const silent = await rawConnect(pki.profile('alice'), srv);
  const me = `${silent.localAddress}:${silent.localPort}`;
  const told = await framesUntilClose(silent);
  assert.equal(told.length, 1);
  assert.equal(told[0]!.type, TunFrame.REJECT);
  assert.deepEqual(JSON.parse(told[0]!.text), { code: 'INSEL_HANDSHAKE_TIMEOUT', message: `no tunnel HELLO from ${me} within 300 ms` });

  const nonsense: [string, Buffer, RegExp][] = [
    ['HTTP', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), /unknown frame type 71/],
    ['an oversized frame', header(TunFrame.HELLO, 0x100000), /frame of 1048576 bytes exceeds the limit of 65535/],
    ['an unknown frame type', header(9, 0), /unknown frame type 9/],
    ['a PACKET first', encodeFrame(TunFrame.PACKET, 0, Buffer.alloc(40)), /sent frame type 4 instead of HELLO/],
    ['a HELLO that is not JSON', encodeFrame(TunFrame.HELLO, 0, Buffer.from('{')), /tunnel HELLO from/],
    ['a HELLO with a field too many', encodeJson(TunFrame.HELLO, { v: 1, aeads: ['aes-256-gcm'], hashes: ['sha256'], nonce: '0'.repeat(64), admin: true }), /tunnel HELLO from/],
    ['a HELLO with a control character in user', encodeJson(TunFrame.HELLO, { v: 1, aeads: ['aes-256-gcm'], hashes: ['sha256'], nonce: '0'.repeat(64), user: 'a\nb', password: 'x' }), /tunnel HELLO from/],
    ['a HELLO with no cipher in common', encodeJson(TunFrame.HELLO, { v: 1, aeads: ['des-cbc'], hashes: ['sha256'], nonce: '0'.repeat(64) }), /aead|cipher|AEAD/],
  ];
  for (const [what, bytes, why] of nonsense) {
    const s = await rawConnect(pki.profile('alice'), srv);
    s.write(bytes);
    const frames = await framesUntilClose(s);
    assert.ok(frames.length <= 1 && frames.every((f) => f.type === TunFrame.REJECT), `${what}: ${JSON.stringify(frames)}`);
    assert.match(frames[0]?.text ?? '', why, what);
  }
  assert.deepEqual(srv.server.clients.map((s) => s.info.key), ['carol']);
  assert.equal(srv.pool.peek('alice'), undefined, 'none of them leased an address');
  await roundTrip(srv, carol, 'after the nonsense');
});

test('one identity holds at most MAX_PENDING_PER_IDENTITY connections before its session; others are unaffected', async (t) => {
  const srv = await startServer(pki, { handshakeTimeoutMs: 1000 });
  t.after(() => srv.close());
  const stalled = await Promise.all(Array.from({ length: MAX_PENDING_PER_IDENTITY }, () => rawConnect(pki.profile('alice'), srv)));
  const ended = stalled.map((s) => framesUntilClose(s));
  const extra = await rawConnect(pki.profile('alice'), srv);
  const told = await framesUntilClose(extra);
  assert.equal(told.length, 1);
  assert.equal(JSON.parse(told[0]!.text).code, 'INSEL_TUNNEL_FULL');
  assert.match(JSON.parse(told[0]!.text).message, new RegExp(`already has ${MAX_PENDING_PER_IDENTITY} connections in their handshake`));
  const carol = await startClient(pki, 'carol', srv);
  t.after(() => carol.close());
  // The stalled ones end at the handshake timeout; then alice is welcome again.
  for (const frames of await Promise.all(ended)) assert.equal(JSON.parse(frames[0]!.text).code, 'INSEL_HANDSHAKE_TIMEOUT');
  const alice = await startClient(pki, 'alice', srv);
  t.after(() => alice.close());
  assert.deepEqual(srv.server.clients.map((s) => s.info.key).sort(), ['alice', 'carol']);
});

test('after ACCEPT: garbage ends that session with a reason; garbage datagrams in PACKETs are only dropped', async (t) => {
  const srv = await startServer(pki);
  t.after(() => srv.close());
  const carol = await startClient(pki, 'carol', srv);
  t.after(() => carol.close());

  const a = await rawSession(pki.profile('alice'), srv);
  const before = srv.rig.plane.stats();
  a.socket.write(encodeFrame(TunFrame.PACKET, 0, Buffer.alloc(3)));
  a.socket.write(encodeFrame(TunFrame.PACKET, 0, Buffer.alloc(65535, 1)));
  await until(() => srv.rig.plane.stats().drops['truncated'] !== before.drops['truncated'], 'the truncated PACKET dropped');
  assert.deepEqual(srv.server.clients.map((s) => s.info.key).sort(), ['alice', 'carol'], 'a bad datagram is no reason to end a session');

  a.socket.write(header(0xee, 0));
  const frames = await framesUntilClose(a.socket, a.decoder);
  assert.deepEqual(frames.at(-1), { type: TunFrame.CLOSE, text: 'client sent bytes we cannot read: unknown frame type 238' });
  assert.deepEqual(srv.server.clients.map((s) => s.info.key), ['carol']);

  const b = await rawSession(pki.profile('alice'), srv);
  b.socket.write(encodeJson(TunFrame.HELLO, {}));
  const more = await framesUntilClose(b.socket, b.decoder);
  assert.deepEqual(more.at(-1), { type: TunFrame.CLOSE, text: 'client sent frame type 1 after ACCEPT' });
  assert.equal(b.accept.ipv4?.address, a.accept.ipv4?.address, 'alice came back to her address');
  await roundTrip(srv, carol, 'after the garbage');
});

test('spoofing: packets with another client\'s address or any foreign source never reach the server TUN', async (t) => {
  const srv = await startServer(pki);
  t.after(() => srv.close());
  const alice = await startClient(pki, 'alice', srv);
  t.after(() => alice.close());
  const carol = await startClient(pki, 'carol', srv, { tcpOnly: true });
  t.after(() => carol.close());
  assert.deepEqual([alice.address, carol.address], ['10.8.0.2', '10.8.0.3']);

  // alice over UDP, carol over the TCP rung (PACKET frames): each claims the other's address, then a stranger's.
  for (const [c, other] of [[alice, carol], [carol, alice]] as const) {
    writePacket(c.rig.tun, udp4(other.address, POOL_GATEWAY, `I am ${other.address}`));
    writePacket(c.rig.tun, udp4('192.0.2.66', POOL_GATEWAY, 'I am nobody'));
    const honest = udp4(c.address, POOL_GATEWAY, `honest ${c.address}`);
    writePacket(c.rig.tun, honest);
    assert.deepEqual(await readPackets(srv.rig.tun, 1), [honest], 'only the honest packet arrives');
  }
  await until(() => drops(srv.rig, 'spoofed_source') === 4, 'four spoofed_source drops');
  for (const s of srv.server.clients) assert.equal(drops(srv.rig, 'spoofed_source', s.id), 2, s.info.key);
  assert.deepEqual(drain(srv.rig.tun), []);
});

test('a client that stops reading its TCP rung costs it packets (tcpDropped), not the server memory', async (t) => {
  const srv = await startServer(pki);
  t.after(() => srv.close());
  const carol = await startClient(pki, 'carol', srv);
  t.after(() => carol.close());
  // alice's session starts on the TCP rung and stays there: she never sends over UDP, and never reads.
  const alice = await rawSession(pki.profile('alice'), srv);
  const session = srv.server.clients.find((s) => s.info.key === 'alice')!;
  assert.equal(session.real, 'tcp');

  const pkt = udp4(POOL_GATEWAY, alice.accept.ipv4!.address, 'x'.repeat(1400));
  const sent = await flood(srv.rig.tun, pkt, () => session.tcpDropped >= 100);
  assert.ok(session.tcpDropped >= 100, `only ${session.tcpDropped} dropped of ${sent} packets`);
  // Bounded: what the server kept for her is at most the bound (1 MiB) plus what the kernel buffers hold.
  const kept = (sent - session.tcpDropped) * (pkt.length + 32 + 6);
  assert.ok(kept < 16 * 2 ** 20, `${kept} bytes kept for a client that does not read`);
  await roundTrip(srv, carol, 'while alice sleeps');
  alice.socket.destroy();
});
