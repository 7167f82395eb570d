// The C data plane against secsock's TypeScript datagram codec and AEAD:
// known answers, interop both ways, the receive checks (replay, epochs,
// forged and short datagrams), anti-spoof, client-to-client, MSS clamping,
// TAP switching, the TCP rung, and that a throwing listener crashes nothing.
// The "TUN" is a SOCK_SEQPACKET pair: no root needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import { closeSync as closeFd } from 'node:fs';
import { addon } from '../native/addon.js';
import { PLANE_OVERHEAD, TunKind, parseFrom } from './plane.js';
import { drain, ipPacket, openTs, readPackets, rig, sealTs, synMss, tcpChecksumOk, tcpSyn, until, withRig, writePacket, type Keys, type Rig } from './plane-testing.js';

const keys = (seed: number, aead: Keys['aead'] = 'aes-256-gcm'): Keys => ({ aead, key: Buffer.alloc(32, seed), iv: Buffer.alloc(12, seed + 1) });
const SEND = keys(0x11);
const RECV = keys(0x33);

/** A plane with one peer (id 1, receives on channel 100, sends on 200), its keys set. */
function onePeer(r: Rig, o: { vip4?: string; vip6?: string; isDefault?: boolean; follow?: boolean } = {}, id = 1, recv = RECV, send = SEND): void {
  r.plane.addPeer(id, { recvId: 100 * id, sendId: 200 * id, aead: recv.aead, isDefault: o.isDefault ?? true, follow: o.follow ?? true, vip4: o.vip4, vip6: o.vip6 });
  r.plane.setSendKey(id, 0, send.key, send.iv, 0);
  r.plane.setRecvKey(id, 'cur', 0, recv.key, recv.iv);
}

const PKT = ipPacket('10.0.0.1', '10.0.0.2', 17, Buffer.from('insel known answer'));
// secsock's datagram of PKT: epoch 3, channel 0x01020304, counter 2^40 + 5, key 0x11.., iv 0x22.. (docs/PROTOCOL.md §3).
const VECTORS = {
  'aes-256-gcm':
    '01030102030400000100000000058763f33d3c7cf74b980bac2834d449e27d5248c1a87719ea135547d82c668ce73ee17c09fa1f564b577d810fd468175b0d719dfd9d60adbf',
  'chacha20-poly1305':
    '010301020304000001000000000589c817938f1d2b7972339063f208e2698e64ea65be3f1a37913171d11055e476056e527416cf90796a30ee18feffb2679901207038d4cf75',
} as const;

test('known answers: the C plane, secsock and node:crypto seal the same bytes', async () => {
  for (const aead of ['aes-256-gcm', 'chacha20-poly1305'] as const) {
    const k: Keys = { aead, key: Buffer.alloc(32, 0x11), iv: Buffer.alloc(12, 0x22) };
    const want = Buffer.from(VECTORS[aead], 'hex');
    // node:crypto, independent of the addon: nonce = iv XOR counter.
    const nonce = Buffer.from(k.iv);
    nonce.writeBigUInt64BE(nonce.readBigUInt64BE(4) ^ BigInt(2 ** 40 + 5), 4);
    const c = createCipheriv(aead as 'aes-256-gcm', k.key, nonce, { authTagLength: 16 });
    c.setAAD(want.subarray(0, 14));
    assert.deepEqual(Buffer.concat([want.subarray(0, 14), c.update(Buffer.concat([Buffer.from([0, 0]), PKT])), c.final(), c.getAuthTag()]), want);
    assert.deepEqual(sealTs(k, 3, 0x01020304, 2 ** 40 + 5, 0, PKT), want);

    await withRig({}, 1, async (r, [peer]) => {
      r.plane.addPeer(7, { recvId: 9, sendId: 0x01020304, aead, isDefault: true, follow: false });
      r.plane.setSendKey(7, 3, k.key, k.iv, 2 ** 40 + 5);
      r.plane.setPath(7, { host: '127.0.0.1', port: peer.port });
      writePacket(r.tun, PKT);
      await until(() => peer.got.length === 1, 'the sealed datagram');
      assert.deepEqual(peer.got[0], want);
      assert.equal(r.plane.stats(7)!.sendCounter, 2 ** 40 + 6);
      // ...and the plane opens it too.
      r.plane.removePeer(7);
      r.plane.addPeer(7, { recvId: 0x01020304, sendId: 1, aead, isDefault: true, follow: false });
      r.plane.setRecvKey(7, 'cur', 3, k.key, k.iv);
      r.plane.input(want);
      assert.deepEqual(drain(r.tun), [PKT]);
    });
  }
});

test('interop: C seals, secsock opens; secsock seals, C opens (over real UDP)', async () => {
  await withRig({}, 1, async (r, [peer]) => {
    onePeer(r);
    r.plane.setPath(1, { host: '127.0.0.1', port: peer.port });
    const pkts = [64, 29, 1400, 1500].map((n, i) => ipPacket('10.0.0.1', '10.0.0.2', 17, Buffer.alloc(n - 28, i + 1)));
    for (const p of pkts) writePacket(r.tun, p);
    await until(() => peer.got.length === pkts.length, 'all datagrams');
    peer.got.forEach((d, i) => {
      const o = openTs(SEND, d);
      assert.ok(o !== undefined, 'authentic');
      assert.deepEqual({ ...o, body: o.body }, { epoch: 0, channelId: 200, counter: i, kind: TunKind.DATA, body: pkts[i]! });
      assert.equal(d.length, pkts[i]!.length + PLANE_OVERHEAD);
    });
    for (const [i, p] of pkts.entries()) peer.sock.send(sealTs(RECV, 0, 100, 1000 + i, TunKind.DATA, p), r.udp.port, '127.0.0.1');
    assert.deepEqual(await readPackets(r.tun, pkts.length), pkts);
    const s = r.plane.stats(1)!;
    assert.equal(s.rxPackets, pkts.length);
    assert.equal(s.txPackets, pkts.length);
    assert.ok(s.lastRxMs >= 0);
    assert.deepEqual(r.events, [], 'the peer sent from the path already set: no path event');
  });
});

test('receive checks: replay, too old, stale epoch, forged, short, garbage: counted, never delivered', () => {
  const r = rig();
  try {
    onePeer(r);
    const d = (counter: number, epoch = 0, channel = 100) => sealTs(RECV, epoch, channel, counter, TunKind.DATA, PKT);
    const input = (b: Buffer) => r.plane.input(b);
    input(d(5));
    input(d(5)); // replay
    input(d(3000));
    input(d(100)); // 3000 - 2016 > 100: too old
    input(d(2999)); // inside the window: fine
    input(d(3001, 9)); // no slot holds epoch 9
    const forged = d(3002);
    forged[20]! ^= 1;
    input(forged);
    input(Buffer.alloc(10)); // truncated
    const typed = d(3003);
    typed[0] = 2;
    input(typed); // bad type
    const huge = d(3004);
    huge.writeUInt32BE(0x00200000, 6); // counter 2^53
    input(huge);
    input(d(3005, 0, 555)); // unknown channel
    input(sealTs(RECV, 0, 100, 3006, 0, Buffer.alloc(0)).subarray(0, 30)); // cut short
    input(sealRaw(3007, Buffer.concat([Buffer.from([0, 2]), PKT]))); // inner flags set: no compression on the tunnel
    input(sealRaw(3008, Buffer.from([0]))); // inner shorter than its header
    input(sealTs(RECV, 0, 100, 3009, TunKind.DATA, Buffer.from('not an IP packet at all')));
    assert.deepEqual(drain(r.tun), [PKT, PKT, PKT]);
    assert.deepEqual(r.plane.stats().drops, {
      replay: 1, too_old: 1, stale_epoch: 1, auth_failed: 2, truncated: 1, bad_type: 1, malformed: 4, unknown_channel: 1,
    });
    const unknown = r.events.filter((e) => e[0] === 'unknown');
    assert.equal(unknown.length, 1);
    assert.equal(unknown[0]![1], 555);
    assert.equal(unknown[0]![3], 'tcp');
  } finally {
    r.close();
  }
});

/** A datagram on channel 100, epoch 0, whose inner is `inner` as given (sealTs always writes flags 0). */
function sealRaw(counter: number, inner: Buffer): Buffer {
  const c = createCipheriv('aes-256-gcm', RECV.key, nonceOf(RECV.iv, counter), { authTagLength: 16 });
  const head = Buffer.alloc(14);
  head[0] = 1;
  head.writeUInt32BE(100, 2);
  head.writeUInt32BE(counter, 10);
  c.setAAD(head);
  return Buffer.concat([head, c.update(inner), c.final(), c.getAuthTag()]);
}

function nonceOf(iv: Buffer, counter: number): Buffer {
  const n = Buffer.from(iv);
  n.writeBigUInt64BE(n.readBigUInt64BE(4) ^ BigInt(counter), 4);
  return n;
}

test('epochs: next promotes (event), previous still opens, older is stale, a dropped slot is gone', () => {
  const r = rig();
  try {
    onePeer(r);
    const e1 = keys(0x55);
    r.plane.setRecvKey(1, 'next', 1, e1.key, e1.iv);
    r.plane.input(sealTs(RECV, 0, 100, 0, TunKind.DATA, PKT));
    r.plane.input(sealTs(e1, 1, 100, 0, TunKind.DATA, PKT)); // the peer rekeyed
    assert.deepEqual(r.events.filter((e) => e[0] === 'promoted').map((e) => e.slice(0, 3)), [['promoted', 1, 1]]);
    r.plane.input(sealTs(RECV, 0, 100, 1, TunKind.DATA, PKT)); // late packet of epoch 0: the previous slot
    r.plane.input(sealTs(e1, 1, 100, 0, TunKind.DATA, PKT)); // replay within the new epoch
    r.plane.input(sealTs(keys(0x66), 2, 100, 0, TunKind.DATA, PKT)); // no next installed yet
    r.plane.setRecvKey(1, 'prev', 0, null);
    r.plane.input(sealTs(RECV, 0, 100, 2, TunKind.DATA, PKT));
    assert.equal(drain(r.tun).length, 3);
    assert.deepEqual(r.plane.stats(1)!.drops, { replay: 1, stale_epoch: 2 });
  } finally {
    r.close();
  }
});

test('server peers: anti-spoof, routes by vip4/vip6, client-to-client off then on', async () => {
  await withRig({ mss: 0 }, 2, async (r, [a, b]) => {
    const KB = keys(0x77);
    // follow off: the datagrams come by input() (the TCP rung), the replies should still go by UDP.
    onePeer(r, { vip4: '10.8.0.2', vip6: 'fd00::2', isDefault: false, follow: false });
    onePeer(r, { vip4: '10.8.0.3', isDefault: false, follow: false }, 2, KB, KB);
    r.plane.setPath(1, { host: '127.0.0.1', port: a.port });
    r.plane.setPath(2, { host: '127.0.0.1', port: b.port });
    let n = 0;
    const from1 = (p: Buffer) => r.plane.input(sealTs(RECV, 0, 100, n++, TunKind.DATA, p));
    const out = ipPacket('10.8.0.2', '192.0.2.1', 17, Buffer.from('out'));
    const out6 = ipPacket('fd00::2', '2001:db8::1', 17, Buffer.from('out6'));
    from1(ipPacket('10.8.0.9', '192.0.2.1', 17, Buffer.from('spoofed')));
    from1(ipPacket('fd00::9', '2001:db8::1', 17, Buffer.from('spoofed6')));
    from1(out);
    from1(out6);
    const toB = ipPacket('10.8.0.2', '10.8.0.3', 17, Buffer.from('c2c'));
    from1(toB);
    assert.deepEqual(drain(r.tun), [out, out6]);
    assert.deepEqual(r.plane.stats(1)!.drops, { spoofed_source: 2, c2c_denied: 1 });

    r.plane.setClientToClient(true);
    from1(toB);
    await until(() => b.got.length === 1, 'the forwarded packet');
    assert.deepEqual(openTs(KB, b.got[0]!)!.body, toB);
    assert.equal(openTs(KB, b.got[0]!)!.channelId, 400);

    // From the TUN: by destination vip; no default peer, no match: no_route.
    const in4 = ipPacket('192.0.2.1', '10.8.0.2', 17, Buffer.from('in'));
    const in6 = ipPacket('2001:db8::1', 'fd00::2', 17, Buffer.from('in6'));
    writePacket(r.tun, in4);
    writePacket(r.tun, in6);
    writePacket(r.tun, ipPacket('192.0.2.1', '10.8.0.99', 17, Buffer.from('nowhere')));
    await until(() => a.got.length === 2 && (r.plane.stats().drops.no_route ?? 0) === 1, 'routed packets');
    assert.deepEqual(a.got.map((d) => openTs(SEND, d)!.body), [in4, in6]);
  });
});

test('MSS clamp: SYNs both ways, v4 and v6 (odd offset too), checksums stay valid', async () => {
  await withRig({ mss: 1360 }, 1, async (r, [peer]) => {
    onePeer(r);
    r.plane.setPath(1, { host: '127.0.0.1', port: peer.port });
    // TUN → UDP.
    writePacket(r.tun, tcpSyn('10.0.0.1', '10.0.0.2', 1460));
    writePacket(r.tun, tcpSyn('10.0.0.1', '10.0.0.2', 1200));
    await until(() => peer.got.length === 2, 'sealed SYNs');
    const [big, small] = peer.got.map((d) => openTs(SEND, d)!.body);
    assert.equal(synMss(big!), 1360);
    assert.ok(tcpChecksumOk(big!));
    assert.deepEqual(small, tcpSyn('10.0.0.1', '10.0.0.2', 1200), 'a smaller MSS is left alone');
    // UDP → TUN, IPv6 (MSS - 20), the option at an odd offset.
    r.plane.input(sealTs(RECV, 0, 100, 0, TunKind.DATA, tcpSyn('fd00::1', 'fd00::2', 1440, 1)));
    r.plane.input(sealTs(RECV, 0, 100, 1, TunKind.DATA, tcpSyn('fd00::1', 'fd00::2', 1440, 0)));
    const [odd, even] = drain(r.tun);
    assert.equal(synMss(odd!, 1), 1340);
    assert.ok(tcpChecksumOk(odd!));
    assert.equal(synMss(even!), 1340);
    assert.ok(tcpChecksumOk(even!));
    r.plane.setMss(0);
    r.plane.input(sealTs(RECV, 0, 100, 2, TunKind.DATA, tcpSyn('10.0.0.2', '10.0.0.1', 1460)));
    assert.equal(synMss(drain(r.tun)[0]!), 1460);
  });
});

const mac = (n: number) => Buffer.from([2, 0, 0, 0, 0, n]);
const frame = (dst: Buffer, src: Buffer, text: string) => Buffer.concat([dst, src, Buffer.from([0x88, 0xb5]), Buffer.from(text)]);

test('TAP: broadcast floods, learned MACs are switched, client-to-client between peers', async () => {
  await withRig({ tap: true, clientToClient: true }, 2, async (r, [a, b]) => {
    const KB = keys(0x77);
    onePeer(r, { isDefault: false, follow: false });
    onePeer(r, { isDefault: false, follow: false }, 2, KB, KB);
    r.plane.setPath(1, { host: '127.0.0.1', port: a.port });
    r.plane.setPath(2, { host: '127.0.0.1', port: b.port });
    const bcast = frame(Buffer.alloc(6, 0xff), mac(9), 'who has');
    writePacket(r.tun, bcast);
    await until(() => a.got.length === 1 && b.got.length === 1, 'the flood');
    assert.deepEqual(openTs(KB, b.got[0]!)!.body, bcast);
    // Peer 1 speaks from mac(1): learned; a frame to mac(1) goes to peer 1 only.
    const hello = frame(mac(9), mac(1), 'hello');
    r.plane.input(sealTs(RECV, 0, 100, 0, TunKind.DATA, hello));
    assert.deepEqual(drain(r.tun), [hello]);
    writePacket(r.tun, frame(mac(1), mac(9), 'reply'));
    // Peer 2 to mac(1): client-to-client.
    r.plane.input(sealTs(KB, 0, 200, 0, TunKind.DATA, frame(mac(1), mac(2), 'c2c')));
    await until(() => a.got.length === 3, 'switched frames');
    assert.deepEqual(a.got.slice(1).map((d) => openTs(SEND, d)!.body.subarray(14).toString()).sort(), ['c2c', 'reply']);
    assert.equal(b.got.length, 1);
    r.plane.input(sealTs(RECV, 0, 100, 1, TunKind.DATA, Buffer.alloc(10))); // shorter than an Ethernet header
    assert.equal(r.plane.stats(1)!.drops.malformed, 1);
  });
});

test('TCP rung: tcp events, input from tcp, follow switches the path both ways, control packets, forceUdp, padding', async () => {
  await withRig({}, 1, async (r, [peer]) => {
    onePeer(r);
    r.plane.setPath(1, 'tcp');
    writePacket(r.tun, PKT);
    await until(() => r.events.some((e) => e[0] === 'tcp'), 'a tcp event');
    const tcp = r.events.find((e) => e[0] === 'tcp')!;
    assert.deepEqual(openTs(SEND, tcp[2] as Buffer)!.body, PKT);

    // DATA over UDP: follow moves the path to UDP; over TCP (input): back to tcp.
    peer.sock.send(sealTs(RECV, 0, 100, 0, TunKind.DATA, PKT), r.udp.port, '127.0.0.1');
    await until(() => r.events.some((e) => e[0] === 'path'), 'the path event');
    // A KEEPALIVE over TCP does not move the path (only DATA does); DATA does.
    r.plane.input(sealTs(RECV, 0, 100, 1, TunKind.KEEPALIVE, Buffer.alloc(0)));
    r.plane.input(sealTs(RECV, 0, 100, 2, TunKind.DATA, PKT));
    assert.deepEqual(r.events.filter((e) => e[0] === 'path').map((e) => parseFrom(e[2] as string)), [{ host: '127.0.0.1', port: peer.port }, 'tcp']);
    assert.deepEqual(r.events.filter((e) => e[0] === 'control').map((e) => e.slice(0, 5)), [['control', 1, TunKind.KEEPALIVE, Buffer.alloc(0), 'tcp']]);

    // A probe forced onto UDP while on the TCP rung, padded to 1200 bytes.
    const id = Buffer.from([0, 0, 0, 42]);
    assert.equal(r.plane.sendControl(1, TunKind.PROBE, id, 1200, true), true);
    await until(() => peer.got.length === 1, 'the probe');
    assert.equal(peer.got[0]!.length, 1200);
    const probe = openTs(SEND, peer.got[0]!)!;
    assert.equal(probe.kind, TunKind.PROBE);
    assert.deepEqual(probe.body, Buffer.concat([id, Buffer.alloc(1200 - 32 - 4)]));
    const before = r.events.length;
    assert.equal(r.plane.sendControl(1, TunKind.PROBE_ACK, Buffer.from([0, 0, 0, 42, 4, 176])), true);
    assert.equal(r.events.length, before + 1, 'on the tcp path: a tcp event');
  });
});

test('a send counter never passes 2^53; no key or no path: counted drops', async () => {
  await withRig({}, 1, async (r, [peer]) => {
    r.plane.addPeer(1, { recvId: 100, sendId: 200, aead: 'aes-256-gcm', isDefault: true, follow: false });
    writePacket(r.tun, PKT);
    await until(() => r.plane.stats().drops.no_key === 1, 'no_key');
    r.plane.setSendKey(1, 0, SEND.key, SEND.iv, 2 ** 53 - 1);
    writePacket(r.tun, PKT);
    await until(() => r.plane.stats().drops.no_route === 1, 'no_route');
    r.plane.setPath(1, { host: '127.0.0.1', port: peer.port });
    writePacket(r.tun, PKT);
    writePacket(r.tun, PKT);
    await until(() => peer.got.length === 1 && r.plane.stats().drops.no_key === 2, 'the last counter');
    assert.equal(openTs(SEND, peer.got[0]!)!.counter, 2 ** 53 - 1);
  });
});

test('a throwing listener neither crashes nor stops the plane; misuse throws typed errors; close is final', () => {
  const r = rig();
  try {
    onePeer(r);
    const errors: Error[] = [];
    r.plane.on('error', (e) => errors.push(e));
    r.plane.on('control', () => {
      throw new Error('listener bug');
    });
    r.plane.input(sealTs(RECV, 0, 100, 0, TunKind.KEEPALIVE, Buffer.alloc(0)));
    r.plane.input(sealTs(RECV, 0, 100, 1, TunKind.DATA, PKT));
    assert.equal(errors.length, 1);
    assert.deepEqual(drain(r.tun), [PKT]);
    assert.throws(() => r.plane.addPeer(1, { recvId: 5, sendId: 5, aead: 'aes-256-gcm', follow: false }), RangeError);
    assert.throws(() => r.plane.addPeer(2, { recvId: 100, sendId: 5, aead: 'aes-256-gcm', follow: false }), RangeError);
    assert.throws(() => r.plane.setSendKey(1, 0, Buffer.alloc(31), SEND.iv), RangeError);
    assert.throws(() => r.plane.setPath(1, { host: 'example.com', port: 1 }), RangeError);
    assert.equal(r.plane.stats(99), undefined);
    r.plane.removePeer(1);
    r.plane.input(sealTs(RECV, 0, 100, 2, TunKind.DATA, PKT));
    assert.equal(r.plane.stats().drops.unknown_channel, 1);
  } finally {
    r.close();
  }
  r.plane.close();
  assert.throws(() => r.plane.stats(), TypeError);
});

test('the raw addon: onEvent that throws is cleared, the next event still comes', () => {
  const [mine, theirs] = addon.testPacketPair();
  const udp = addon.udpOpen('127.0.0.1', 0);
  const seen: string[] = [];
  const p = addon.planeCreate({
    tunFd: mine, udpFd: udp.fd, tap: false, maxPacket: 1500, batch: 8, mss: 0, clientToClient: false,
    onEvent: (type) => {
      seen.push(type);
      throw new Error('boom');
    },
  });
  try {
    addon.planeInput(p, sealTs(RECV, 0, 1, 0, TunKind.DATA, PKT));
    addon.planeInput(p, sealTs(RECV, 0, 2, 0, TunKind.DATA, PKT));
    assert.deepEqual(seen, ['unknown', 'unknown']);
  } finally {
    addon.planeClose(p);
    addon.planeClose(p);
    for (const fd of [mine, theirs, udp.fd]) closeFd(fd);
  }
});

test("the TUN side gone (end of file): one 'down' event, and the plane no longer polls it", async () => {
  const [mine, theirs] = addon.testPacketPair();
  const udp = addon.udpOpen('127.0.0.1', 0);
  const seen: unknown[][] = [];
  const p = addon.planeCreate({ tunFd: mine, udpFd: udp.fd, tap: false, maxPacket: 1500, batch: 8, mss: 0, clientToClient: false, onEvent: (...a) => seen.push(a) });
  try {
    closeFd(theirs);
    await until(() => seen.length > 0, 'the down event');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(seen, [['down', 0, 'end of file']]);
  } finally {
    addon.planeClose(p);
    for (const fd of [mine, udp.fd]) closeFd(fd);
  }
});

test("unknown channel ids: every one counted, at most 64 'unknown' events a second", () => {
  const r = rig();
  try {
    for (let i = 0; i < 100; i++) r.plane.input(sealTs(RECV, 0, 1000 + i, 0, TunKind.DATA, PKT));
    assert.equal(r.plane.stats().drops.unknown_channel, 100);
    const n = r.events.filter((e) => e[0] === 'unknown').length;
    assert.ok(n >= 1 && n <= 64, `${n} events`);
  } finally {
    r.close();
  }
});

test("a dual-stack socket ('::') talks to an IPv4 peer; its address reads as IPv4", async () => {
  const r = rig({}, '::');
  try {
    await withRig({}, 1, async (_, [peer]) => {
      onePeer(r);
      r.plane.setPath(1, { host: '127.0.0.1', port: peer!.port });
      writePacket(r.tun, PKT);
      await until(() => peer!.got.length === 1, 'the datagram');
      assert.deepEqual(openTs(SEND, peer!.got[0]!)!.body, PKT);
      peer!.sock.send(sealTs(RECV, 0, 100, 0, TunKind.KEEPALIVE, Buffer.alloc(0)), r.udp.port, '127.0.0.1');
      await until(() => r.events.length === 1, 'the keepalive');
      assert.equal(r.events[0]![4], `127.0.0.1:${peer!.port}`);
    });
  } finally {
    r.close();
  }
});
