// PROBE and PROBE_ACK bodies against a DataView oracle: random, truncated and
// bit-flipped bodies decode as the oracle says or throw DecodeError, nothing
// else; every valid body re-encodes to the same bytes (a fix-point).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DecodeError } from '../../secsock/errors.js';
import { ackFor, decodeProbe, decodeProbeAck, encodeProbe, encodeProbeAck } from './probe.js';

const RUNS = 3000;

type Result = { id: number; size: number } | 'error';

function attempt(decode: (b: Uint8Array) => { id: number; size: number }, b: Uint8Array): Result {
  try {
    return decode(b);
  } catch (err) {
    if (err instanceof DecodeError) return 'error';
    throw err;
  }
}

/** A slow, independent reading of docs/PROTOCOL.md "PMTU probes". */
function probeOracle(b: Uint8Array): Result {
  if (b.length < 4 || b.length + 32 > 0xffff) return 'error';
  if (b.subarray(4).some((x) => x !== 0)) return 'error';
  return { id: new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0, false), size: b.length + 32 };
}

function ackOracle(b: Uint8Array): Result {
  if (b.length !== 6) return 'error';
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const size = v.getUint16(4, false);
  return size < 36 ? 'error' : { id: v.getUint32(0, false), size };
}

/** Mostly well-formed bodies, then damaged: cut, bit-flipped, extended. */
const probeBodies = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc.tuple(fc.nat(0xffffffff), fc.integer({ min: 0, max: 2000 })).map(([id, pad]) => Buffer.concat([encodeProbe(id), Buffer.alloc(pad)])),
  fc
    .tuple(fc.nat(0xffffffff), fc.integer({ min: 0, max: 200 }), fc.nat(), fc.integer({ min: 0, max: 7 }))
    .map(([id, pad, at, bit]) => {
      const b = Buffer.concat([encodeProbe(id), Buffer.alloc(pad)]);
      b[at % b.length]! ^= 1 << bit;
      return b;
    }),
);

const ackBodies = fc.oneof(
  fc.uint8Array({ maxLength: 12 }),
  fc.tuple(fc.nat(0xffffffff), fc.nat(0xffff)).map(([id, size]) => encodeProbeAck(id, size)),
  fc.tuple(fc.nat(0xffffffff), fc.nat(0xffff), fc.integer({ min: 0, max: 6 })).map(([id, size, cut]) => encodeProbeAck(id, size).subarray(0, cut)),
);

test('PROBE bodies decode as the oracle says, or DecodeError', () => {
  fc.assert(
    fc.property(probeBodies, (b) => {
      const got = attempt(decodeProbe, b);
      assert.deepEqual(got, probeOracle(b));
      if (got !== 'error') {
        assert.deepEqual(Buffer.concat([encodeProbe(got.id), Buffer.alloc(b.length - 4)]), Buffer.from(b));
        assert.deepEqual(decodeProbeAck(ackFor(b)), got, 'the responder acks the id and the size that arrived');
      } else assert.throws(() => ackFor(b), DecodeError);
    }),
    { numRuns: RUNS },
  );
});

test('PROBE_ACK bodies decode as the oracle says, or DecodeError', () => {
  fc.assert(
    fc.property(ackBodies, (b) => {
      const got = attempt(decodeProbeAck, b);
      assert.deepEqual(got, ackOracle(b));
      if (got !== 'error') assert.deepEqual(encodeProbeAck(got.id, got.size), Buffer.from(b));
    }),
    { numRuns: RUNS },
  );
});

test('the largest probe: a 65535-byte datagram decodes, one byte more does not', () => {
  assert.equal(decodeProbe(Buffer.alloc(0xffff - 32)).size, 0xffff);
  assert.throws(() => decodeProbe(Buffer.alloc(0xffff - 31)), DecodeError);
});
