// Flow message codec against a DataView oracle: random, truncated and
// bit-flipped input decodes as the oracle says or is a DecodeError, nothing
// else; every valid message re-encodes to the same bytes (a fix-point).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DecodeError } from '../secsock/errors.js';
import { decodeFlowMessage, encodeFlowMessage, FlowType, type FlowMessage } from './wire.js';

const RUNS = 3000;

type Plain = { type: number; flow: number; host?: string; port?: number; reason?: string; body?: number[]; service?: string; ticket?: string };

/** Result or 'error'; anything but DecodeError propagates and fails the property. */
function attempt(b: Uint8Array): Plain | 'error' {
  try {
    return plain(decodeFlowMessage(Buffer.from(b)));
  } catch (err) {
    if (err instanceof DecodeError) return 'error';
    throw err;
  }
}

function plain(m: FlowMessage): Plain {
  return m.type === FlowType.DATA ? { type: m.type, flow: m.flow, body: [...m.body] } : { ...m };
}

/** A slow, independent reading of the spec in wire.ts. */
function oracle(b: Uint8Array): Plain | 'error' {
  if (b.length < 5) return 'error';
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const type = v.getUint8(0);
  const flow = v.getUint32(1, false);
  const body = b.subarray(5);
  switch (type) {
    case 1: {
      if (body.length < 3 || body.length > 2 + 255) return 'error';
      const port = v.getUint16(5, false);
      if (port === 0) return 'error';
      let host = '';
      for (const c of body.subarray(2)) {
        if (c < 33 || c > 126) return 'error';
        host += String.fromCharCode(c);
      }
      return { type, flow, host, port };
    }
    case 6: {
      const n = body.length < 1 ? 0 : v.getUint8(5);
      if (n === 0 || body.length < 1 + n || body.length - 1 - n > 255) return 'error';
      let text = '';
      for (const c of body.subarray(1)) {
        if (c < 33 || c > 126) return 'error';
        text += String.fromCharCode(c);
      }
      return { type, flow, service: text.slice(0, n), ticket: text.slice(n) };
    }
    case 2:
    case 7:
      return body.length === 0 ? { type, flow } : 'error';
    case 3:
    case 5:
    case 8: {
      if (body.length > 512) return 'error';
      const reason = strictUtf8(body);
      return reason === undefined ? 'error' : { type, flow, reason };
    }
    case 4:
      return body.length > 65535 ? 'error' : { type, flow, body: [...body] };
    default:
      return 'error';
  }
}

/** UTF-8 by hand: shortest form, no surrogates, ≤ U+10FFFF. */
function strictUtf8(b: Uint8Array): string | undefined {
  let out = '';
  for (let i = 0; i < b.length; ) {
    const c = b[i]!;
    let n: number, cp: number, min: number;
    if (c < 0x80) [n, cp, min] = [0, c, 0];
    else if ((c & 0xe0) === 0xc0) [n, cp, min] = [1, c & 0x1f, 0x80];
    else if ((c & 0xf0) === 0xe0) [n, cp, min] = [2, c & 0x0f, 0x800];
    else if ((c & 0xf8) === 0xf0) [n, cp, min] = [3, c & 0x07, 0x10000];
    else return undefined;
    for (let k = 1; k <= n; k++) {
      const cc = b[i + k];
      if (cc === undefined || (cc & 0xc0) !== 0x80) return undefined;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return undefined;
    out += String.fromCodePoint(cp);
    i += n + 1;
  }
  return out;
}

const hostArb = fc.stringMatching(/^[!-~]{1,255}$/);
const reasonArb = fc.oneof(fc.string({ maxLength: 100 }), fc.string({ unit: 'binary', maxLength: 120 }));
const flowArb = fc.integer({ min: 0, max: 0xffffffff });
const messageArb: fc.Arbitrary<FlowMessage> = fc.oneof(
  fc.record({ type: fc.constant(FlowType.OPEN), flow: flowArb, host: hostArb, port: fc.integer({ min: 1, max: 65535 }) }),
  fc.record({ type: fc.constant(FlowType.OPEN_SERVICE), flow: flowArb, service: hostArb, ticket: fc.stringMatching(/^[!-~]{0,255}$/) }),
  fc.record({ type: fc.constant(FlowType.OPENED), flow: flowArb }),
  fc.record({ type: fc.constant(FlowType.ASSOCIATE), flow: flowArb }),
  fc.record({ type: fc.constant(FlowType.DENIED), flow: flowArb, reason: reasonArb }),
  fc.record({ type: fc.constant(FlowType.DEST_DENIED), flow: flowArb, reason: reasonArb }),
  fc.record({ type: fc.constant(FlowType.CLOSE), flow: flowArb, reason: reasonArb }),
  fc.record({ type: fc.constant(FlowType.DATA), flow: flowArb, body: fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u)) }),
);

test('fuzz: random bytes decode as the oracle says, or DecodeError', () => {
  const plausible = fc
    .tuple(fc.integer({ min: 0, max: 7 }), fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ maxLength: 40 }))
    .map(([t, flow, rest]) => Uint8Array.from([t, ...flow, ...rest]));
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 64 }), plausible), (b) => {
      assert.deepEqual(attempt(b), oracle(b));
    }),
    { numRuns: RUNS },
  );
});

test('fuzz: valid messages round-trip; truncations and bit flips match the oracle', () => {
  fc.assert(
    fc.property(messageArb, fc.nat(), fc.nat(), fc.integer({ min: 0, max: 7 }), (m, cut, pos, bit) => {
      const b = encodeFlowMessage(m);
      const back = attempt(b);
      assert.notEqual(back, 'error');
      assert.deepEqual(back, oracle(b));
      // Fix-point: what decodes re-encodes to the very same bytes.
      assert.ok(encodeFlowMessage(decodeFlowMessage(b)).equals(b));
      const short = b.subarray(0, cut % (b.length + 1));
      assert.deepEqual(attempt(short), oracle(short));
      const flipped = Buffer.from(b);
      flipped[pos % flipped.length]! ^= 1 << bit;
      const got = attempt(flipped);
      assert.deepEqual(got, oracle(flipped));
      if (got !== 'error') assert.ok(encodeFlowMessage(decodeFlowMessage(flipped)).equals(flipped));
    }),
    { numRuns: RUNS },
  );
});

test('fuzz: reasons of any string survive, cut to 512 bytes at most', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 600 }), (s) => {
      const m = decodeFlowMessage(encodeFlowMessage({ type: FlowType.CLOSE, flow: 1, reason: s }));
      assert.ok(m.type === FlowType.CLOSE);
      assert.ok(Buffer.byteLength(m.reason) <= 512);
      // Lone surrogates become U+FFFD on encoding (as Buffer.from does); otherwise a prefix survives.
      assert.ok(Buffer.from(s, 'utf8').toString('utf8').startsWith(m.reason));
    }),
    { numRuns: RUNS },
  );
});
