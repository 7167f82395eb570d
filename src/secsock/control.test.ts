import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PROTOCOL_VERSION } from './constants.js';
import { acceptSchema, decodeControl, encodeControl, helloSchema, rejectSchema, type Accept, type Hello } from './control.js';
import { DecodeError } from './errors.js';

const hello: Hello = {
  v: PROTOCOL_VERSION,
  transport: 'udp',
  aeads: ['aes-256-gcm', 'chacha20-poly1305'],
  hashes: ['sha256'],
  compressions: ['none', 'deflate'],
  modes: ['private'],
  nonce: 'ab'.repeat(32),
  maxFrame: 65536,
  maxMessage: 1 << 24,
  datagramSize: 1400,
};

const accept: Accept = {
  v: PROTOCOL_VERSION,
  aead: 'aes-256-gcm',
  hash: 'sha256',
  compression: 'none',
  mode: 'private',
  nonce: '01'.repeat(32),
  maxFrame: 65536,
  maxMessage: 1 << 24,
  datagramSize: 1400,
  udpPort: 4500,
  channelId: 0xffffffff,
};

/** The DecodeError's field, or fails if decoding did not throw one. */
function fieldOf(schema: Parameters<typeof decodeControl>[0], json: unknown, what = 'HELLO'): string {
  const payload = Buffer.from(typeof json === 'string' ? json : JSON.stringify(json));
  try {
    decodeControl(schema, payload, what);
  } catch (err) {
    assert.ok(err instanceof DecodeError, String(err));
    assert.equal(err.code, 'INSEL_DECODE');
    assert.ok(err.message.startsWith(`${what}: `), err.message);
    return err.field ?? '';
  }
  assert.fail('decoded');
}

test('HELLO, ACCEPT and REJECT round-trip', () => {
  assert.deepEqual(decodeControl(helloSchema, encodeControl(hello), 'HELLO'), hello);
  assert.deepEqual(decodeControl(acceptSchema, encodeControl(accept), 'ACCEPT'), accept);
  const { udpPort: _p, channelId: _c, ...tcpAccept } = accept;
  assert.deepEqual(decodeControl(acceptSchema, encodeControl(tcpAccept), 'ACCEPT'), tcpAccept);
  const reject = { code: 'INSEL_NO_COMMON_CHOICE', message: 'no common aead' };
  assert.deepEqual(decodeControl(rejectSchema, encodeControl(reject), 'REJECT'), reject);
});

test('a wrong field is a DecodeError naming it', () => {
  assert.equal(fieldOf(helloSchema, { ...hello, v: PROTOCOL_VERSION + 1 }), 'v');
  assert.equal(fieldOf(helloSchema, { ...hello, transport: 'sctp' }), 'transport');
  assert.equal(fieldOf(helloSchema, { ...hello, nonce: 'AB'.repeat(32) }), 'nonce');
  assert.equal(fieldOf(helloSchema, { ...hello, nonce: 'ab'.repeat(31) }), 'nonce');
  assert.equal(fieldOf(helloSchema, { ...hello, maxFrame: 0 }), 'maxFrame');
  assert.equal(fieldOf(helloSchema, { ...hello, maxMessage: 1.5 }), 'maxMessage');
  assert.equal(fieldOf(helloSchema, { ...hello, aeads: ['aes-256-gcm', 'x'.repeat(65)] }), 'aeads.1');
  assert.equal(fieldOf(helloSchema, { ...hello, hashes: Array(33).fill('sha256') }), 'hashes');
  const { datagramSize: _d, ...missing } = hello;
  assert.equal(fieldOf(helloSchema, missing), 'datagramSize');
  assert.equal(fieldOf(acceptSchema, { ...accept, udpPort: 0 }, 'ACCEPT'), 'udpPort');
  assert.equal(fieldOf(acceptSchema, { ...accept, channelId: 0 }, 'ACCEPT'), 'channelId');
  assert.equal(fieldOf(acceptSchema, { ...accept, channelId: 2 ** 32 }, 'ACCEPT'), 'channelId');
  assert.equal(fieldOf(rejectSchema, { code: 'x', message: 'y'.repeat(4097) }, 'REJECT'), 'message');
});

test('an unexpected key is named, not reported on the root', () => {
  assert.equal(fieldOf(helloSchema, { ...hello, extra: 1 }), 'extra');
  assert.equal(fieldOf(rejectSchema, { code: 'x', message: 'y', why: 'z' }, 'REJECT'), 'why');
});

test('non-JSON and non-objects are DecodeErrors', () => {
  assert.equal(fieldOf(helloSchema, '{"v":1'), '');
  assert.equal(fieldOf(helloSchema, ''), '');
  assert.equal(fieldOf(helloSchema, 'null'), '');
  assert.equal(fieldOf(helloSchema, '[1,2]'), '');
  assert.equal(fieldOf(helloSchema, '"hello"'), '');
  assert.throws(() => decodeControl(helloSchema, Buffer.from([0xff, 0xfe, 0x00]), 'HELLO'), DecodeError);
});

test('a JSON "__proto__" key is refused, not merged', () => {
  const json = encodeControl(hello).toString().replace(/^\{/, '{"__proto__":{"admin":true},');
  assert.equal(fieldOf(helloSchema, json), '__proto__');
});
