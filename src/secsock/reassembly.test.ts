import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Reassembler, type ReassemblyDrop, type ReassemblyLimits } from './reassembly.js';

const LIMITS: ReassemblyLimits = { maxMessages: 4, maxBytes: 1000, timeoutMs: 100, maxMessage: 800 };

function make(limits: Partial<ReassemblyLimits> = {}) {
  const drops: ReassemblyDrop[] = [];
  const r = new Reassembler({ ...LIMITS, ...limits }, (d) => drops.push(d));
  return { r, drops };
}
const frags = (msg: Buffer, count: number) => {
  const size = Math.ceil(msg.length / count);
  return Array.from({ length: count }, (_, i) => msg.subarray(i * size, (i + 1) * size));
};

test('out-of-order fragments reassemble, with their flags', () => {
  const { r, drops } = make();
  const msg = Buffer.from('the quick brown fox jumps over the lazy dog');
  const parts = frags(msg, 5);
  for (const i of [3, 0, 4, 1]) assert.equal(r.add(9, i, 5, 2, parts[i]!, 0), undefined);
  assert.equal(r.bytesHeld, msg.length - parts[2]!.length);
  assert.deepEqual(r.add(9, 2, 5, 2, parts[2]!, 1), { message: msg, flags: 2 });
  assert.equal(r.bytesHeld, 0);
  assert.deepEqual(drops, []);
});

test('duplicates are ignored', () => {
  const { r, drops } = make();
  assert.equal(r.add(1, 0, 2, 0, Buffer.from('ab'), 0), undefined);
  assert.equal(r.add(1, 0, 2, 0, Buffer.from('XX'), 0), undefined);
  assert.equal(r.bytesHeld, 2);
  assert.deepEqual(r.add(1, 1, 2, 0, Buffer.from('cd'), 0)?.message, Buffer.from('abcd'));
  // After completion, a late duplicate starts a new partial message, not a second delivery.
  assert.equal(r.add(1, 1, 2, 0, Buffer.from('cd'), 0), undefined);
  assert.deepEqual(drops, []);
});

test('a fragment count or flags that disagree drop the message', () => {
  const { r, drops } = make();
  r.add(1, 0, 3, 0, Buffer.from('a'), 0);
  assert.equal(r.add(1, 1, 4, 0, Buffer.from('b'), 0), undefined);
  assert.deepEqual(drops, ['reassembly_conflict']);
  assert.equal(r.bytesHeld, 0);
  r.add(2, 0, 2, 0, Buffer.from('a'), 0);
  assert.equal(r.add(2, 1, 2, 2, Buffer.from('b'), 0), undefined);
  assert.deepEqual(drops, ['reassembly_conflict', 'reassembly_conflict']);
  assert.equal(r.bytesHeld, 0);
});

test('an index beyond the count is dropped, not a crash', () => {
  const { r, drops } = make();
  assert.equal(r.add(1, 2, 2, 0, Buffer.from('a'), 0), undefined);
  r.add(1, 0, 2, 0, Buffer.from('a'), 0);
  assert.equal(r.add(1, 5, 2, 0, Buffer.from('b'), 0), undefined);
  assert.deepEqual(r.add(1, 1, 2, 0, Buffer.from('b'), 0)?.message, Buffer.from('ab'));
  assert.deepEqual(drops, ['reassembly_conflict', 'reassembly_conflict']);
});

test('at most maxMessages partial messages: the oldest is evicted', () => {
  const { r, drops } = make({ maxMessages: 2 });
  r.add(1, 0, 2, 0, Buffer.from('1'), 0);
  r.add(2, 0, 2, 0, Buffer.from('2'), 1);
  r.add(3, 0, 2, 0, Buffer.from('3'), 2);
  assert.deepEqual(drops, ['reassembly_overflow']);
  assert.equal(r.bytesHeld, 2);
  assert.equal(r.add(1, 1, 2, 0, Buffer.from('x'), 3), undefined, 'message 1 was evicted');
  assert.deepEqual(r.add(3, 1, 2, 0, Buffer.from('y'), 3)?.message, Buffer.from('3y'));
});

test('at most maxBytes held: the oldest is evicted; one message alone may exceed it up to maxMessage', () => {
  const { r, drops } = make({ maxBytes: 100, maxMessage: 300 });
  r.add(1, 0, 3, 0, Buffer.alloc(60), 0);
  r.add(2, 0, 3, 0, Buffer.alloc(30), 0);
  assert.deepEqual(drops, []);
  r.add(2, 1, 3, 0, Buffer.alloc(30), 0);
  assert.deepEqual(drops, ['reassembly_overflow']);
  assert.equal(r.bytesHeld, 60);
  r.add(2, 2, 4, 0, Buffer.alloc(1), 0); // conflict: clears message 2
  r.add(3, 0, 3, 0, Buffer.alloc(150), 0);
  r.add(3, 1, 3, 0, Buffer.alloc(140), 0);
  assert.equal(r.bytesHeld, 290);
  assert.equal(r.add(3, 2, 3, 0, Buffer.alloc(11), 0), undefined);
  assert.deepEqual(drops, ['reassembly_overflow', 'reassembly_conflict', 'message_too_large']);
  assert.equal(r.bytesHeld, 0);
});

test('completing the oldest message while over maxBytes delivers it once and counts bytes right', () => {
  const { r, drops } = make({ maxBytes: 100 });
  r.add(1, 0, 2, 0, Buffer.alloc(60, 1), 0);
  r.add(2, 0, 2, 0, Buffer.alloc(30, 2), 1);
  const got = r.add(1, 1, 2, 0, Buffer.alloc(20, 1), 2);
  assert.deepEqual(got?.message, Buffer.alloc(80, 1));
  assert.equal(r.bytesHeld, 30);
  assert.deepEqual(drops, []);
  assert.deepEqual(r.add(2, 1, 2, 0, Buffer.alloc(1, 2), 3)?.message, Buffer.concat([Buffer.alloc(30, 2), Buffer.alloc(1, 2)]));
  assert.equal(r.bytesHeld, 0);
});

test('partial messages older than the timeout expire', () => {
  const { r, drops } = make({ timeoutMs: 100 });
  r.add(1, 0, 2, 0, Buffer.alloc(5), 0);
  r.add(2, 0, 2, 0, Buffer.alloc(7), 50);
  r.expire(100);
  assert.deepEqual(drops, []);
  r.expire(101);
  assert.deepEqual(drops, ['reassembly_timeout']);
  assert.equal(r.bytesHeld, 7);
  assert.equal(r.add(1, 1, 2, 0, Buffer.alloc(5), 101), undefined, 'message 1 is gone');
  assert.equal(r.add(2, 1, 2, 0, Buffer.alloc(1), 120)?.message.length, 8);
  r.expire(10_000);
  assert.deepEqual(drops, ['reassembly_timeout', 'reassembly_timeout']);
  assert.equal(r.bytesHeld, 0);
});

test('clear drops everything', () => {
  const { r } = make();
  r.add(1, 0, 2, 0, Buffer.alloc(5), 0);
  r.clear();
  assert.equal(r.bytesHeld, 0);
  assert.equal(r.add(1, 1, 2, 0, Buffer.alloc(5), 0), undefined);
});

test('fuzz: any order, duplicates, loss, conflicts and expiry: only true messages come out, bounds hold', () => {
  // Each message id has one true content and count; a "conflict" fragment
  // claims count + 1 and can never complete.
  const msgArb = fc.record({ count: fc.integer({ min: 2, max: 6 }), size: fc.integer({ min: 0, max: 60 }), flags: fc.constantFrom(0, 2), fill: fc.nat(255) });
  const u16 = fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 0xffff }));
  const opArb = fc.oneof(
    { weight: 10, arbitrary: fc.tuple(fc.constant('add' as const), fc.nat(7), fc.nat(), fc.nat(3)) },
    { weight: 1, arbitrary: fc.tuple(fc.constant('conflict' as const), fc.nat(7), fc.nat(), fc.nat(3)) },
    { weight: 1, arbitrary: fc.tuple(fc.constant('expire' as const), fc.nat(7), fc.nat(), fc.nat(3)) },
    // Raw header fields as a peer might send them (decodeInner refuses most; the
    // reassembler must not rely on it). Ids 100.. never collide with true ones.
    { weight: 2, arbitrary: fc.tuple(fc.constant('raw' as const), fc.nat(7), u16, u16) },
  );
  const limitsArb = fc.record({
    maxMessages: fc.integer({ min: 1, max: 5 }),
    maxBytes: fc.integer({ min: 20, max: 300 }),
    timeoutMs: fc.integer({ min: 1, max: 20 }),
    maxMessage: fc.integer({ min: 10, max: 400 }),
  });
  fc.assert(
    fc.property(limitsArb, fc.array(msgArb, { minLength: 8, maxLength: 8 }), fc.array(opArb, { maxLength: 200 }), (limits, msgs, ops) => {
      const whole = msgs.map((m, id) => Buffer.alloc(m.size, (m.fill + id) & 0xff));
      const parts = msgs.map((m, id) => frags(whole[id]!, m.count));
      const r = new Reassembler(limits, () => {});
      let now = 0;
      for (const [kind, id, pick, x] of ops) {
        const m = msgs[id]!;
        if (kind !== 'raw') now += x;
        if (kind === 'raw') {
          // index `pick`, count `x`: every fragment of id 100 + id has id * 3 bytes.
          const got = r.add(100 + id, pick, x, 0, Buffer.alloc(id * 3), now);
          if (got) assert.equal(got.message.length, x * id * 3);
        } else if (kind === 'expire') {
          r.expire(now);
        } else if (kind === 'conflict') {
          r.add(id, 0, m.count + 1, m.flags, Buffer.alloc(pick % 9), now);
        } else {
          const i = pick % m.count;
          const got = r.add(id, i, m.count, m.flags, parts[id]![i]!, now);
          if (got) {
            assert.deepEqual(got.message, whole[id]);
            assert.equal(got.flags, m.flags);
          }
        }
        assert.ok(r.bytesHeld >= 0, `held ${r.bytesHeld}`);
        assert.ok(r.bytesHeld <= Math.max(limits.maxBytes, limits.maxMessage), `held ${r.bytesHeld}`);
      }
      r.expire(now + limits.timeoutMs + 1);
      assert.equal(r.bytesHeld, 0);
    }),
    { numRuns: 1000 },
  );
});

test('fuzz: with room enough, any permutation with duplicates yields the message exactly once', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 500 }),
      fc.integer({ min: 2, max: 20 }),
      fc.array(fc.nat(), { maxLength: 20 }),
      fc.nat(),
      (msg, count, dupPicks, seed) => {
        const parts = frags(Buffer.from(msg), count);
        const order = parts.map((_, i) => i).sort((a, b) => ((a * 7919 + seed) % 101) - ((b * 7919 + seed) % 101));
        for (const d of dupPicks) order.splice(d % (order.length + 1), 0, order[d % order.length]!);
        const { r, drops } = make({ maxMessage: 1000, maxBytes: 1000 });
        let delivered = 0;
        const seen = new Set<number>();
        for (const i of order) {
          const got = r.add(42, i, count, 0, parts[i]!, 0);
          seen.add(i);
          if (got) {
            delivered++;
            assert.equal(seen.size, count, 'delivered only after the last new fragment');
            assert.deepEqual(got.message, Buffer.from(msg));
            break;
          }
        }
        assert.equal(delivered, 1);
        assert.equal(r.bytesHeld, 0);
        assert.deepEqual(drops, []);
      },
    ),
    { numRuns: 1000 },
  );
});
