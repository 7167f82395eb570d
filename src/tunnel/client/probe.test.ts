// Probe bodies: the sizes docs/PROTOCOL.md "PMTU probes" gives, and a known answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DecodeError } from '../../secsock/errors.js';
import { DATAGRAM_OVERHEAD, MIN_PROBE_SIZE, PROBE_ACK_SIZE, ackFor, decodeProbe, decodeProbeAck, encodeProbe } from './probe.js';

test('a PROBE padded to 1472 bytes is acked with its id and 1472', () => {
  assert.equal(DATAGRAM_OVERHEAD, 14 + 2 + 16);
  const body = Buffer.concat([encodeProbe(0xdeadbeef), Buffer.alloc(1472 - DATAGRAM_OVERHEAD - 4)]);
  const ack = ackFor(body);
  assert.equal(ack.length, PROBE_ACK_SIZE);
  assert.equal(ack.toString('hex'), 'deadbeef05c0');
  assert.deepEqual(decodeProbeAck(ack), { id: 0xdeadbeef, size: 1472 });
});

test('malformed bodies are refused with a reason', () => {
  assert.throws(() => decodeProbe(Buffer.from([1, 2, 3])), /shorter than its 4-byte id/);
  assert.throws(() => decodeProbe(Buffer.from([0, 0, 0, 1, 0, 7])), /padding byte 5 is not zero/);
  assert.throws(() => decodeProbeAck(Buffer.alloc(7)), /must be 6/);
  assert.throws(() => decodeProbeAck(Buffer.from([0, 0, 0, 1, 0, MIN_PROBE_SIZE - 1])), DecodeError);
  assert.deepEqual(decodeProbe(Buffer.from([0, 0, 0, 9])), { id: 9, size: MIN_PROBE_SIZE });
});
