// Hostile datagrams at the C decoder, from JavaScript: random bytes and
// mutations (bit flips, cuts, header rewrites) of authentic datagrams, by
// planeInput and over a real UDP socket. Nothing crashes, and only authentic
// packets reach the "TUN" side, each at most once; the replay decisions match
// src/secsock/replay.ts, the reference.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ReplayWindow } from '../secsock/replay.js';
import { TunKind } from './plane.js';
import { drain, ipPacket, readPackets, rig, sealTs, withRig, type Keys, type Rig } from './plane-testing.js';

const K: Keys = { aead: 'aes-256-gcm', key: Buffer.alloc(32, 5), iv: Buffer.alloc(12, 6) };

function setup(r: Rig): void {
  r.plane.addPeer(1, { recvId: 100, sendId: 200, aead: K.aead, vip4: '10.8.0.2', follow: true });
  r.plane.setRecvKey(1, 'cur', 0, K.key, K.iv);
  r.plane.setRecvKey(1, 'next', 1, Buffer.alloc(32, 7), Buffer.alloc(12, 8));
}

const packetArb = fc.uint8Array({ maxLength: 80 }).map((p) => ipPacket('10.8.0.2', '10.0.0.1', 17, Buffer.from(p)));

const mutationArb = fc.oneof(
  fc.record({ flip: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ cut: fc.nat() }),
  fc.record({ at: fc.integer({ min: 0, max: 13 }), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ tail: fc.uint8Array({ minLength: 1, maxLength: 40 }) }),
);

type Mutation = { flip: number; bit: number } | { cut: number } | { at: number; byte: number } | { tail: Uint8Array };

function mutate(d: Buffer, m: Mutation): Buffer {
  const b = Buffer.from(d);
  if ('flip' in m) b[m.flip % b.length]! ^= 1 << m.bit;
  else if ('cut' in m) return b.subarray(0, m.cut % b.length);
  else if ('at' in m) b[m.at] = b[m.at] === m.byte ? m.byte ^ 0x80 : m.byte;
  else return Buffer.concat([b, m.tail]);
  return b;
}

/** Random garbage, or an authentic datagram (counter i) mutated so it is not. */
const inputArb = fc.array(
  fc.oneof(
    fc.uint8Array({ maxLength: 200 }).map((g) => ({ garbage: Buffer.from(g) })),
    fc.record({ packet: packetArb, mutation: mutationArb }),
    fc.record({ packet: packetArb }),
  ),
  { maxLength: 40 },
);

type Input = { garbage: Buffer } | { packet: Buffer; mutation?: Mutation };

function datagrams(inputs: Input[], base: number): { sent: Buffer[]; authentic: Buffer[] } {
  const sent: Buffer[] = [];
  const authentic: Buffer[] = [];
  for (const [i, x] of inputs.entries()) {
    if ('garbage' in x) {
      sent.push(x.garbage);
      continue;
    }
    const d = sealTs(K, 0, 100, base + i, TunKind.DATA, x.packet);
    if (x.mutation === undefined) authentic.push(x.packet);
    sent.push(x.mutation === undefined ? d : mutate(d, x.mutation));
  }
  return { sent, authentic };
}

test('planeInput: garbage and mutated datagrams are dropped; authentic ones delivered once', () => {
  const r = rig();
  try {
    setup(r);
    let base = 0;
    fc.assert(
      fc.property(inputArb, (inputs) => {
        const { sent, authentic } = datagrams(inputs, base);
        base += inputs.length;
        for (const d of sent) r.plane.input(d);
        for (const d of sent) r.plane.input(d); // all of it again: replays
        const got = drain(r.tun);
        // A mutation may leave a datagram authentic (e.g. a cut of 0 bytes is no datagram; a flip in a
        // dropped tail): whatever arrives must be one of the sealed packets, each at most once.
        const sealedPackets = inputs.filter((x): x is { packet: Buffer } => 'packet' in x).map((x) => x.packet.toString('hex'));
        for (const p of got) assert.ok(sealedPackets.includes(p.toString('hex')), 'only sealed packets');
        assert.ok(got.length <= sealedPackets.length);
        for (const a of authentic) assert.ok(got.some((p) => p.equals(a)), 'authentic packets arrive');
      }),
      { numRuns: 300 },
    );
    assert.ok(r.plane.stats().rxPackets > 0);
  } finally {
    r.close();
  }
});

test('over real UDP: mutated datagrams, then a marker; only authentic packets before it', async () => {
  await withRig({}, 1, async (r, [peer]) => {
    setup(r);
    let base = 0;
    await fc.assert(
      fc.asyncProperty(inputArb, async (inputs) => {
        const { sent, authentic } = datagrams(inputs, base);
        base += inputs.length + 1;
        for (const d of sent) peer.sock.send(d, r.udp.port, '127.0.0.1');
        const marker = ipPacket('10.8.0.2', '10.0.0.1', 17, Buffer.from(`marker ${base}`));
        peer.sock.send(sealTs(K, 0, 100, base - 1, TunKind.DATA, marker), r.udp.port, '127.0.0.1');
        const got: Buffer[] = [];
        // Loopback keeps order: once the marker is through, everything before it was processed.
        while (!got.some((p) => p.equals(marker))) got.push(...(await readPackets(r.tun, 1)));
        const sealedPackets = inputs.filter((x): x is { packet: Buffer } => 'packet' in x).map((x) => x.packet.toString('hex'));
        for (const p of got) assert.ok(p.equals(marker) || sealedPackets.includes(p.toString('hex')), 'only sealed packets');
        for (const a of authentic) assert.ok(got.some((p) => p.equals(a)), 'authentic packets arrive');
      }),
      { numRuns: 60 },
    );
  });
});

test('replay decisions match src/secsock/replay.ts for random counter sequences', () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.nat(5000), fc.integer({ min: 0, max: 64 })), { maxLength: 200 }), (counters) => {
      const r = rig();
      try {
        setup(r);
        const model = new ReplayWindow();
        let expected = 0;
        for (const c of counters) {
          r.plane.input(sealTs(K, 0, 100, c, TunKind.DATA, ipPacket('10.8.0.2', '10.0.0.1', 17, Buffer.alloc(1))));
          if (model.check(c) === 'ok') {
            model.mark(c);
            expected++;
          }
        }
        assert.equal(drain(r.tun).length, expected);
      } finally {
        r.close();
      }
    }),
    { numRuns: 100 },
  );
});
