// The session's packet input under random bytes: whatever arrives on its
// socket (noise, damaged genuine datagrams, authentic datagrams with any
// inner payload) is delivered as decodeInner reads it or dropped and
// counted; nothing throws, and no forgery reaches the sink or moves the peer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Sealer } from './aead.js';
import { DGRAM_HEADER_SIZE, InnerKind } from './constants.js';
import { decodeInner, writeHeader } from './datagram.js';
import { DecodeError } from './errors.js';
import { KeyChain } from './keys.js';
import type { MemorySocket } from './memory-net.js';
import { sessionPair } from './session-testing.js';

const RUNS = 300;
const FROM = { address: '10.6.6.6', port: 666 };

const socketOf = (ep: unknown) => (ep as { socket: MemorySocket }).socket;
const dropCount = (d: Record<string, number>) => Object.values(d).reduce((a, b) => a + b, 0);

test('noise and damaged datagrams are dropped and counted; nothing reaches the sink', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.oneof(fc.uint8Array({ maxLength: 1500 }), fc.record({ flip: fc.nat(), cut: fc.nat() })), { minLength: 1, maxLength: 20 }),
      async (inputs) => {
        const p = await sessionPair();
        const seen: Buffer[] = [];
        p.net.filter = (d) => (seen.push(Buffer.from(d)), undefined); // the genuine ones are only for damaging
        p.client.sendPacket(Buffer.from('genuine'));
        await p.net.settle();
        const genuine = seen[0]!;
        const sock = socketOf(p.serverEp);
        const before = dropCount(p.serverEp.drops) + dropCount(p.server.stats.drops);
        for (const x of inputs) {
          let d: Buffer;
          if (x instanceof Uint8Array) d = Buffer.from(x);
          else {
            d = Buffer.from(genuine.subarray(0, DGRAM_HEADER_SIZE + (x.cut % (genuine.length - DGRAM_HEADER_SIZE + 1))));
            if (d.length === genuine.length) d[x.flip % d.length]! ^= 1 << x.flip % 8;
          }
          sock.onDatagram(d, FROM);
        }
        assert.equal(p.atServer.packets.length, 0);
        assert.equal(p.atServer.endedWith, null);
        assert.equal(p.server.remote, `10.0.0.2:${p.clientEp.port}`);
        assert.equal(dropCount(p.serverEp.drops) + dropCount(p.server.stats.drops) - before, inputs.length, 'each counted once');
      },
    ),
    { numRuns: RUNS },
  );
});

test('authentic datagrams with any inner payload: delivered as decodeInner reads it, or dropped as malformed', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 64 }), { minLength: 1, maxLength: 20 }), async (inners) => {
      const p = await sessionPair();
      // Sealed with the client's keys as a peer with a broken encoder would; counters from 1000 on.
      const sealer = new Sealer('aes-256-gcm', 'private', new KeyChain('sha256', Buffer.from(p.c2s)).next());
      const sock = socketOf(p.serverEp);
      const expected = { packets: 0, fragments: 0, malformed: 0, closed: false };
      for (const [i, inner] of inners.entries()) {
        if (expected.closed) break;
        const out = Buffer.alloc(DGRAM_HEADER_SIZE + inner.length + 16);
        writeHeader(out, 0, 7, 1000 + i);
        const len = sealer.seal(out, DGRAM_HEADER_SIZE, Buffer.alloc(0), 0, inner, 1000 + i);
        sock.onDatagram(out.subarray(0, len), { address: '10.0.0.2', port: p.clientEp.port });
        try {
          const kind = decodeInner(Buffer.from(inner)).kind;
          if (kind === InnerKind.DATA) expected.packets++;
          if (kind === InnerKind.FRAGMENT) expected.fragments++;
          if (kind === InnerKind.CLOSE) expected.closed = true;
        } catch (err) {
          if (!(err instanceof DecodeError)) throw err;
          expected.malformed++;
        }
      }
      assert.equal(p.atServer.packets.length, expected.packets);
      assert.equal(p.atServer.fragments.length, expected.fragments);
      assert.equal(p.server.stats.drops.malformed ?? 0, expected.malformed);
      assert.equal(p.atServer.endedWith, expected.closed ? undefined : null);
    }),
    { numRuns: RUNS },
  );
});
