// TUN offloads in the C plane (native/gso.c): what a TUN opened with
// IFF_VNET_HDR hands over, written into the "TUN" pair by hand: TCP
// super-packets come out as gso_size segments that open (secsock) to valid
// IPv4/IPv6 TCP packets (checksums, lengths, ids, seq, flags), partial
// checksums are completed, packets to the TUN get a zero virtio_net_hdr, and
// malformed headers are dropped. Checked in JavaScript, independent of C.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { closeSync } from 'node:fs';
import fc from 'fast-check';
import { addon } from '../native/addon.js';
import { openUdp } from './device.js';
import { Plane, TunKind } from './plane.js';
import { drain, ipPacket, openTs, pseudoSum, readPackets, sealTs, tcpChecksumOk, until, withRig, writePacket, type Keys, type Remote, type Rig } from './plane-testing.js';

const SEND: Keys = { aead: 'aes-256-gcm', key: Buffer.alloc(32, 0x11), iv: Buffer.alloc(12, 0x12) };
const RECV: Keys = { aead: 'aes-256-gcm', key: Buffer.alloc(32, 0x33), iv: Buffer.alloc(12, 0x34) };
const GSO = { NONE: 0, TCPV4: 1, TCPV6: 4 } as const;
const NEEDS_CSUM = 1;
const FIN = 0x01;
const PSH = 0x08;
const ACK = 0x10;
const CWR = 0x80;

/** struct virtio_net_hdr, host (little-endian) order as a legacy TUN has it. */
function vnet(o: { flags?: number; type?: number; hdrLen?: number; gsoSize?: number; start?: number; offset?: number }): Buffer {
  const h = Buffer.alloc(10);
  h[0] = o.flags ?? 0;
  h[1] = o.type ?? GSO.NONE;
  h.writeUInt16LE(o.hdrLen ?? 0, 2);
  h.writeUInt16LE(o.gsoSize ?? 0, 4);
  h.writeUInt16LE(o.start ?? 0, 6);
  h.writeUInt16LE(o.offset ?? 0, 8);
  return h;
}

/** A TCP packet with 12 bytes of options, its checksum left partial (the pseudo-header's sum) as the kernel hands it over. */
function tcpSuper(v6: boolean, payload: Buffer, flags: number, seq = 0xfffff000): Buffer {
  const tcp = Buffer.alloc(32 + payload.length);
  tcp.writeUInt16BE(5201, 0);
  tcp.writeUInt16BE(40000, 2);
  tcp.writeUInt32BE(seq, 4); // wraps during the transfer
  tcp.writeUInt32BE(777, 8);
  tcp[12] = 8 << 4;
  tcp[13] = flags;
  tcp.writeUInt16BE(512, 14);
  tcp.fill(1, 20, 32); // NOPs
  payload.copy(tcp, 32);
  const pkt = v6 ? ipPacket('fd00::1', 'fd00::2', 6, tcp) : ipPacket('10.0.0.1', '10.0.0.2', 6, tcp);
  if (!v6) pkt.writeUInt16BE(4242, 4); // the IPv4 id, and the header checksum again
  if (!v6) pkt.writeUInt16BE(0, 10), pkt.writeUInt16BE(~sum(pkt.subarray(0, 20)) & 0xffff, 10);
  pkt.writeUInt16BE(pseudoSum(pkt), (v6 ? 40 : 20) + 16);
  return pkt;
}

function sum(b: Buffer): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += b.readUInt16BE(i);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

async function withOffload(body: (r: Rig, peer: Remote) => Promise<void>, batch = 8): Promise<void> {
  await withRig({ offload: true, batch, maxPacket: 1500 }, 1, async (r, [peer]) => {
    r.plane.addPeer(1, { recvId: 100, sendId: 200, aead: RECV.aead, isDefault: true, follow: false });
    r.plane.setSendKey(1, 0, SEND.key, SEND.iv, 0);
    r.plane.setRecvKey(1, 'cur', 0, RECV.key, RECV.iv);
    r.plane.setPath(1, { host: '127.0.0.1', port: peer!.port });
    await body(r, peer!);
  });
}

/** The packets the remote peer got, opened with secsock. */
function opened(peer: Remote): Buffer[] {
  return peer.got.map((d) => {
    const o = openTs(SEND, d);
    assert.ok(o !== undefined && o.kind === TunKind.DATA, 'an authentic DATA datagram');
    return o.body;
  });
}

for (const v6 of [false, true]) {
  test(`a TCP${v6 ? 'v6' : 'v4'} super-packet leaves as gso_size segments, each a valid TCP packet (more than a batch of them)`, async () => {
    await withOffload(async (r, peer) => {
      const mss = 1000;
      const payload = randomBytes(20 * mss + 321);
      const pkt = tcpSuper(v6, payload, ACK | PSH | FIN | CWR);
      const l4 = v6 ? 40 : 20;
      writePacket(r.tun, Buffer.concat([vnet({ flags: NEEDS_CSUM, type: v6 ? GSO.TCPV6 : GSO.TCPV4, hdrLen: l4 + 32, gsoSize: mss, start: l4, offset: 16 }), pkt]));
      await until(() => peer.got.length === 21, '21 segments');
      const segs = opened(peer);
      const data: Buffer[] = [];
      segs.forEach((s, i) => {
        const last = i === segs.length - 1;
        assert.equal(s.length, l4 + 32 + (last ? 321 : mss), `segment ${i}'s length`);
        if (v6) assert.equal(s.readUInt16BE(4), s.length - 40, 'the IPv6 payload length');
        else {
          assert.equal(s.readUInt16BE(2), s.length, 'the IPv4 total length');
          assert.equal(s.readUInt16BE(4), 4242 + i, 'the IPv4 id');
          assert.equal(sum(s.subarray(0, 20)), 0xffff, 'the IPv4 header checksum');
        }
        assert.ok(tcpChecksumOk(s), `segment ${i}'s TCP checksum`);
        assert.equal(s.readUInt32BE(l4 + 4), (0xfffff000 + i * mss) >>> 0, 'seq');
        assert.equal(s.readUInt32BE(l4 + 8), 777, 'ack');
        assert.equal(s[l4 + 13], ACK | (last ? PSH | FIN : 0) | (i === 0 ? CWR : 0), `segment ${i}'s flags`);
        assert.deepEqual(s.subarray(l4 + 20, l4 + 32), Buffer.alloc(12, 1), 'the options, in every segment');
        data.push(s.subarray(l4 + 32));
      });
      assert.deepEqual(Buffer.concat(data), payload);
      assert.equal(r.plane.stats().txPackets, 21);
    });
  });
}

test('a partial checksum (NEEDS_CSUM, no GSO) is completed; a plain packet passes as it is', async () => {
  await withOffload(async (r, peer) => {
    const udp = Buffer.alloc(8 + 333, 7);
    udp.writeUInt16BE(53, 0);
    udp.writeUInt16BE(4000, 2);
    udp.writeUInt16BE(udp.length, 4);
    const u = ipPacket('10.0.0.1', '10.0.0.2', 17, udp);
    u.writeUInt16BE(pseudoSum(u), 26);
    const t = tcpSuper(true, randomBytes(999), ACK);
    const plain = ipPacket('10.0.0.1', '10.0.0.2', 17, Buffer.from('as it is'));
    writePacket(r.tun, Buffer.concat([vnet({ flags: NEEDS_CSUM, start: 20, offset: 6 }), u]));
    writePacket(r.tun, Buffer.concat([vnet({ flags: NEEDS_CSUM, start: 40, offset: 16 }), t]));
    writePacket(r.tun, Buffer.concat([vnet({}), plain]));
    await until(() => peer.got.length === 3, '3 datagrams');
    const [a, b, c] = opened(peer) as [Buffer, Buffer, Buffer];
    assert.ok(tcpChecksumOk(a), 'the UDP checksum (pseudo-header and all)');
    assert.deepEqual(a.subarray(28), u.subarray(28));
    assert.ok(tcpChecksumOk(b), 'the TCP checksum');
    assert.deepEqual(c, plain);
  });
});

test('a TAP plane with offload is refused (frames carry no vnet header here)', () => {
  const [mine, theirs] = addon.testPacketPair();
  const udp = openUdp('127.0.0.1', 0);
  try {
    assert.throws(() => new Plane({ tunFd: mine, udpFd: udp.fd, tap: true, offload: true, maxPacket: 1514 }), /offload is for TUN devices/);
  } finally {
    udp.close();
    closeSync(mine);
    closeSync(theirs);
  }
});

test('packets to the TUN get a zero virtio_net_hdr in front', async () => {
  await withOffload(async (r) => {
    const pkt = ipPacket('10.0.0.2', '10.0.0.1', 17, Buffer.from('to the device'));
    r.plane.input(sealTs(RECV, 0, 100, 0, TunKind.DATA, pkt));
    assert.deepEqual(await readPackets(r.tun, 1), [Buffer.concat([Buffer.alloc(10), pkt])]);
  });
});

test('malformed offload reads are dropped (malformed, too_big), and the plane goes on', async () => {
  await withOffload(async (r, peer) => {
    const t4 = tcpSuper(false, randomBytes(3000), ACK);
    const bad = [
      Buffer.alloc(5), // shorter than the header
      Buffer.concat([vnet({ type: 3 }), t4]), // UDP fragmentation offload: never asked for
      Buffer.concat([vnet({ type: GSO.TCPV4, gsoSize: 0 }), t4]),
      Buffer.concat([vnet({ type: GSO.TCPV6, gsoSize: 1000 }), t4]), // not IPv6
      Buffer.concat([vnet({ type: GSO.TCPV4, gsoSize: 1000 }), t4.subarray(0, 2000)]), // total length beyond the read
      Buffer.concat([vnet({ flags: NEEDS_CSUM, start: 4000, offset: 16 }), t4]),
      Buffer.concat([vnet({ flags: NEEDS_CSUM, start: 20, offset: 4000 }), t4]),
    ];
    for (const b of bad) writePacket(r.tun, b);
    writePacket(r.tun, Buffer.concat([vnet({ type: GSO.TCPV4, gsoSize: 1600 }), t4])); // segments beyond maxPacket
    const ok = ipPacket('10.0.0.1', '10.0.0.2', 17, Buffer.from('after them'));
    writePacket(r.tun, Buffer.concat([vnet({}), ok]));
    await until(() => peer.got.length === 1, 'the good packet');
    assert.deepEqual(opened(peer), [ok]);
    assert.deepEqual(r.plane.stats().drops, { malformed: bad.length, too_big: 1 });
  });
});

test('fuzz: any virtio_net_hdr and bytes crash nothing, and whatever leaves is authentic and at most maxPacket', async () => {
  const superArb = fc.record({ v6: fc.boolean(), n: fc.integer({ min: 0, max: 4000 }), cut: fc.nat(), flip: fc.nat() }).map(({ v6, n, cut, flip }) => {
    const p = tcpSuper(v6, Buffer.alloc(n, 9), ACK);
    p[flip % p.length]! ^= 1 << (flip % 8);
    return cut % 3 === 0 ? p.subarray(0, cut % p.length) : p;
  });
  const hdrArb = fc.record({
    flags: fc.integer({ min: 0, max: 3 }),
    type: fc.constantFrom(0, 1, 3, 4, 5, 0x81, 0x84, 0xff),
    hdrLen: fc.integer({ min: 0, max: 0xffff }),
    gsoSize: fc.integer({ min: 100, max: 0xffff }),
    start: fc.oneof(fc.constantFrom(20, 40), fc.integer({ min: 0, max: 0xffff })),
    offset: fc.oneof(fc.constantFrom(6, 16), fc.integer({ min: 0, max: 0xffff })),
  });
  // Tiny segments too, on short packets (so what the sink must hold stays bounded).
  const readArb = fc.oneof(
    fc.tuple(hdrArb, fc.oneof(fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)), superArb)),
    fc.tuple(hdrArb.map((h) => ({ ...h, gsoSize: h.gsoSize % 8 })), superArb.map((p) => p.subarray(0, 90))),
  );
  // The sink: 4 MiB of receive buffer (udpOpen as root), drained by hand.
  const sink = openUdp('127.0.0.1', 0);
  try {
    await withOffload(async (r) => {
      r.plane.setPath(1, { host: '127.0.0.1', port: sink.port });
      const marker = ipPacket('10.0.0.1', '10.0.0.2', 17, Buffer.from('marker'));
      await fc.assert(
        fc.asyncProperty(fc.array(readArb, { maxLength: 8 }), async (reads) => {
          const got: Buffer[] = [];
          const before = r.plane.stats().txPackets;
          for (const [h, b] of reads) writePacket(r.tun, Buffer.concat([vnet(h), b]));
          writePacket(r.tun, Buffer.concat([vnet({}), marker]));
          await until(() => (got.push(...drain(sink.fd)), got.length > 0 && openTs(SEND, got.at(-1)!)?.body.equals(marker) === true), 'the marker');
          assert.equal(got.length, r.plane.stats().txPackets - before, 'every datagram sent arrived');
          for (const d of got) assert.ok((openTs(SEND, d)?.body.length ?? Infinity) <= 1500, 'authentic, and no packet beyond maxPacket');
        }),
        { numRuns: 60 },
      );
      assert.deepEqual(drain(r.tun), []);
    }, 4);
  } finally {
    sink.close();
  }
});
