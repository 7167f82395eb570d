// Datagram header and inner header codecs against DataView oracles: random,
// truncated and bit-flipped input decodes as the oracle says or is a
// DecodeError; valid encodings round-trip exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DGRAM_HEADER_SIZE, FRAG_HEADER_SIZE, INNER_HEADER_SIZE, InnerKind } from './constants.js';
import { decodeHeader, decodeInner, writeFragmentHeader, writeHeader, writeInner, type DatagramHeader, type Inner } from './datagram.js';
import { DecodeError } from './errors.js';

const RUNS = 2000;

/** Result or 'error'; anything but DecodeError propagates and fails the property. */
function attempt<T>(f: () => T): T | 'error' {
  try {
    return f();
  } catch (err) {
    if (err instanceof DecodeError) return 'error';
    throw err;
  }
}

function headerOracle(b: Uint8Array): DatagramHeader | 'error' {
  if (b.length < 14 || b[0] !== 1) return 'error';
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const counter = v.getBigUint64(6, false);
  if (counter >= 2n ** 53n) return 'error';
  return { type: 1, epoch: b[1]!, channelId: v.getUint32(2, false), counter: Number(counter) };
}

function innerOracle(b: Uint8Array): Omit<Inner, 'body'> & { body: number[] } | 'error' {
  if (b.length < 2 || (b[1]! & ~0x02) !== 0) return 'error';
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b[0] === 0 || b[0] === 2 || b[0] === 3) return { kind: b[0], flags: b[1]!, msgId: 0, index: 0, count: 1, body: [...b.subarray(2)] };
  if (b[0] !== 1 || b.length < 10) return 'error';
  const index = v.getUint16(6, false);
  const count = v.getUint16(8, false);
  if (count < 2 || index >= count) return 'error';
  return { kind: 1, flags: b[1]!, msgId: v.getUint32(2, false), index, count, body: [...b.subarray(10)] };
}

const decodeHeaderPlain = (b: Uint8Array) => ({ ...decodeHeader(Buffer.from(b), { type: 0, epoch: 0, channelId: 0, counter: 0 }) });
const decodeInnerPlain = (b: Uint8Array) => {
  const i = decodeInner(Buffer.from(b));
  return { ...i, body: [...i.body] };
};

const headerArb = fc.record({ epoch: fc.integer({ min: 0, max: 255 }), channelId: fc.integer({ min: 0, max: 0xffffffff }), counter: fc.maxSafeNat() });
function encodeHeader(h: { epoch: number; channelId: number; counter: number }, tail: Uint8Array): Buffer {
  const b = Buffer.alloc(DGRAM_HEADER_SIZE + tail.length);
  writeHeader(b, h.epoch, h.channelId, h.counter);
  b.set(tail, DGRAM_HEADER_SIZE);
  return b;
}

const innerArb = fc.oneof(
  fc.record({
    kind: fc.constantFrom(InnerKind.DATA, InnerKind.KEEPALIVE, InnerKind.CLOSE),
    flags: fc.constantFrom(0, 2),
    msgId: fc.constant(0),
    index: fc.constant(0),
    count: fc.constant(1),
    body: fc.uint8Array({ maxLength: 64 }),
  }),
  fc
    .record({
      kind: fc.constant(InnerKind.FRAGMENT),
      flags: fc.constantFrom(0, 2),
      msgId: fc.integer({ min: 0, max: 0xffffffff }),
      count: fc.integer({ min: 2, max: 0xffff }),
      index: fc.nat(),
      body: fc.uint8Array({ maxLength: 64 }),
    })
    .map((r) => ({ ...r, index: r.index % r.count })),
);
function encodeInner(i: { kind: number; flags: number; msgId: number; index: number; count: number; body: Uint8Array }): Buffer {
  const frag = i.kind === InnerKind.FRAGMENT;
  const b = Buffer.alloc(INNER_HEADER_SIZE + (frag ? FRAG_HEADER_SIZE : 0) + i.body.length);
  let at = writeInner(b, 0, i.kind, i.flags);
  if (frag) at = writeFragmentHeader(b, at, i.msgId, i.index, i.count);
  b.set(i.body, at);
  return b;
}

test('fuzz: decodeHeader on random bytes agrees with the oracle', () => {
  const plausible = fc.tuple(fc.constantFrom(0, 1, 2), fc.uint8Array({ minLength: 5, maxLength: 5 }), fc.integer({ min: 0, max: 2 ** 22 }), fc.uint8Array({ maxLength: 20 }))
    .map(([t, mid, hi, rest]) => {
      const b = Buffer.alloc(10 + rest.length);
      b[0] = t;
      b.set(mid, 1);
      b.writeUInt32BE(hi, 6);
      b.set(rest, 10);
      return new Uint8Array(b);
    });
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 40 }), plausible), (b) => {
      assert.deepEqual(attempt(() => decodeHeaderPlain(b)), headerOracle(b));
    }),
    { numRuns: RUNS },
  );
});

test('fuzz: headers round-trip; truncations and bit flips match the oracle', () => {
  fc.assert(
    fc.property(headerArb, fc.uint8Array({ maxLength: 16 }), fc.nat(), fc.nat(), fc.integer({ min: 0, max: 7 }), (h, tail, cut, pos, bit) => {
      const b = encodeHeader(h, tail);
      assert.deepEqual(decodeHeaderPlain(b), { type: 1, ...h });
      const short = b.subarray(0, cut % DGRAM_HEADER_SIZE);
      assert.equal(attempt(() => decodeHeaderPlain(short)), 'error');
      const flipped = Buffer.from(b);
      flipped[pos % flipped.length]! ^= 1 << bit;
      assert.deepEqual(attempt(() => decodeHeaderPlain(flipped)), headerOracle(flipped));
    }),
    { numRuns: RUNS },
  );
});

test('fuzz: decodeInner on random bytes agrees with the oracle', () => {
  const plausible = fc.tuple(fc.integer({ min: 0, max: 4 }), fc.constantFrom(0, 1, 2, 3, 0x80), fc.uint8Array({ maxLength: 24 }))
    .map(([k, f, rest]) => Uint8Array.from([k, f, ...rest]));
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 24 }), plausible), (b) => {
      assert.deepEqual(attempt(() => decodeInnerPlain(b)), innerOracle(b));
    }),
    { numRuns: RUNS },
  );
});

test('fuzz: inner headers round-trip; truncations and bit flips match the oracle', () => {
  fc.assert(
    fc.property(innerArb, fc.nat(), fc.nat(), fc.integer({ min: 0, max: 7 }), (i, cut, pos, bit) => {
      const b = encodeInner(i);
      assert.deepEqual(decodeInnerPlain(b), { ...i, body: [...i.body] });
      const short = b.subarray(0, cut % (b.length + 1));
      assert.deepEqual(attempt(() => decodeInnerPlain(short)), innerOracle(short));
      const flipped = Buffer.from(b);
      flipped[pos % flipped.length]! ^= 1 << bit;
      assert.deepEqual(attempt(() => decodeInnerPlain(flipped)), innerOracle(flipped));
    }),
    { numRuns: RUNS },
  );
});
