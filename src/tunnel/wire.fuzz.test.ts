// The control connection's decoders take bytes from any TLS peer that got
// through certificate checks: random, mutated and near-valid payloads either
// decode to a valid message or fail with DecodeError, and frame types outside
// the tunnel's table end the connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DecodeError } from '../secsock/errors.js';
import { encodeFrame } from '../secsock/frame.js';
import { TunFrame, decodeAccept, decodeHello, newTunDecoder, tunAcceptSchema, type TunAccept } from './wire.js';

const RUNS = 1500;

function onlyDecodeErrors(f: () => unknown): void {
  try {
    f();
  } catch (err) {
    if (!(err instanceof DecodeError)) throw err;
  }
}

const ACCEPT: TunAccept = {
  v: 1,
  aead: 'aes-256-gcm',
  hash: 'sha256',
  nonce: 'ab'.repeat(32),
  channelId: 7,
  udpPort: 1194,
  mtu: 1420,
  keepalive: [10, 60],
  ipv4: { address: '10.8.0.2', prefix: 24, gateway: '10.8.0.1' },
  routes: [{ network: '10.1.0.0', prefix: 16 }],
  redirectGateway: false,
};

test('random bytes as HELLO or ACCEPT: a value or DecodeError, never another error', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
      onlyDecodeErrors(() => decodeHello(Buffer.from(bytes), 'fuzz'));
      onlyDecodeErrors(() => decodeAccept(Buffer.from(bytes), 'fuzz'));
    }),
    { numRuns: RUNS },
  );
});

test('an ACCEPT with one field changed to any JSON value decodes only if the schema allows that value', () => {
  const keys = Object.keys(ACCEPT);
  fc.assert(
    fc.property(fc.constantFrom(...keys), fc.jsonValue(), (key, value) => {
      const msg = { ...ACCEPT, [key]: value };
      const ok = tunAcceptSchema.safeParse(msg).success;
      let decoded = true;
      try {
        decodeAccept(Buffer.from(JSON.stringify(msg)), 'fuzz');
      } catch (err) {
        assert.ok(err instanceof DecodeError);
        decoded = false;
      }
      assert.equal(decoded, ok);
    }),
    { numRuns: RUNS },
  );
});

test('HELLO refuses unknown fields, control characters in credentials and oversized lists', () => {
  const hello = { v: 1, aeads: ['aes-256-gcm'], hashes: ['sha256'], nonce: 'cd'.repeat(32) };
  assert.doesNotThrow(() => decodeHello(Buffer.from(JSON.stringify({ ...hello, user: 'alice', password: 'pw' })), 'p'));
  for (const bad of [{ ...hello, admin: true }, { ...hello, user: 'al\nice', password: 'x' }, { ...hello, aeads: Array(17).fill('x') }, { ...hello, password: 'x'.repeat(257) }]) {
    assert.throws(() => decodeHello(Buffer.from(JSON.stringify(bad)), 'p'), DecodeError);
  }
});

test('the frame decoder takes the tunnel types only, in any split, and no flags', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 1, max: 70 }), (type, payload, cut) => {
      const frame = encodeFrame(type, 0, payload);
      const d = newTunDecoder();
      const known = (Object.values(TunFrame) as number[]).includes(type);
      try {
        d.push(frame.subarray(0, Math.min(cut, frame.length)));
        const early = d.next();
        d.push(frame.subarray(Math.min(cut, frame.length)));
        const f = early ?? d.next();
        assert.ok(known, `type ${type} was accepted`);
        assert.deepEqual([...(f?.payload ?? [])], [...payload]);
      } catch (err) {
        assert.ok(err instanceof DecodeError);
        assert.ok(!known, `type ${type} was refused: ${(err as Error).message}`);
      }
    }),
    { numRuns: RUNS },
  );
  const flagged = encodeFrame(TunFrame.PACKET, 0x80, Buffer.alloc(4));
  const d = newTunDecoder();
  d.push(flagged);
  assert.throws(() => d.next(), DecodeError);
});
