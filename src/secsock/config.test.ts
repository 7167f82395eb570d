import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { resolveOptions, type SecOptions } from './config.js';
import { ConfigError } from '../config/errors.js';
import { NegotiationError } from './errors.js';

const identity = { cert: 'CERT', key: 'KEY', ca: 'CA' };

/** The ConfigError's field; fails on any other outcome. */
function fieldOf(input: unknown, where = 'options'): string {
  try {
    resolveOptions(input as SecOptions, where);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `${String(err)}`);
    assert.equal(err.code, 'INSEL_CONFIG');
    assert.ok(err.message.startsWith(err.field ? `${where}.${err.field}` : `${where}: `), err.message);
    return err.field ?? '';
  }
  assert.fail('resolved');
}

test('defaults: private only, no plaintext, deflate allowed', () => {
  const o = resolveOptions({ identity });
  assert.equal(o.transport, 'tcp');
  assert.deepEqual(o.aeads, ['aes-256-gcm', 'chacha20-poly1305']);
  assert.deepEqual(o.modes, ['private']);
  assert.equal(o.allowPlaintext, false);
  assert.deepEqual(o.compressions, ['none', 'deflate']);
  assert.ok(o.deadPeerMs > o.keepaliveMs);
});

test('a bad value names its field, prefixed by where it came from', () => {
  assert.equal(fieldOf({ identity, maxFrame: 100 }, 'site.yml secsock'), 'maxFrame');
  assert.equal(fieldOf({ identity, transport: 'quic' }), 'transport');
  assert.equal(fieldOf({ identity, aeads: [] }), 'aeads');
  assert.equal(fieldOf({ identity, aeads: ['aes-128-gcm'] }), 'aeads.0');
  assert.equal(fieldOf({ identity, hashes: ['sha256', 'sha3-256'] }), 'hashes.1');
  assert.equal(fieldOf({ identity, datagramSize: 65508 }), 'datagramSize');
  assert.equal(fieldOf({ identity, keepaliveMs: 1.5 }), 'keepaliveMs');
  assert.equal(fieldOf({ identity, peerRoles: ['admin'] }), 'peerRoles.0');
  assert.equal(fieldOf({ identity: { ...identity, ca: '' } }), 'identity.ca');
  assert.equal(fieldOf({}), 'identity');
});

test('a misspelt key is named', () => {
  assert.equal(fieldOf({ identity, aead: ['aes-256-gcm'] }), 'aead');
  // Inside identity too: a misspelt crl would otherwise switch revocation off.
  assert.match(fieldOf({ identity: { ...identity, crls: 'CRL' } }), /^identity/);
});

test('wrong shapes from a config file are ConfigErrors, not TypeErrors', () => {
  assert.equal(fieldOf({ identity, aeads: 5 }), 'aeads');
  assert.equal(fieldOf({ identity, modes: { private: true } }), 'modes');
  assert.equal(fieldOf({ identity, hashes: 'sha256' }), 'hashes');
  assert.equal(fieldOf({ identity, aeads: [null] }), 'aeads.0');
  assert.equal(fieldOf({ identity, aeads: [42, 'aes-256-gcm'] }), 'aeads.0');
  assert.throws(() => resolveOptions({ identity, aeads: [42, 'des'] } as unknown as SecOptions), NegotiationError);
  assert.equal(fieldOf(undefined), '');
  assert.equal(fieldOf(null), '');
  assert.equal(fieldOf('tcp'), '');
});

test('a broken algorithm is refused by name before any other check', () => {
  for (const [key, name] of [['aeads', 'DES'], ['hashes', 'md5'], ['compressions', 'rc4'], ['modes', 'sha1']] as const) {
    assert.throws(
      () => resolveOptions({ identity, maxFrame: 1, [key]: ['aes-256-gcm', name] } as SecOptions, 'site.yml'),
      (e: unknown) => e instanceof NegotiationError && e.code === 'INSEL_BROKEN_ALGORITHM' && e.field === `site.yml.${key}` && e.message.includes(`${name} is broken`),
    );
  }
});

test("mode 'none' needs allowPlaintext", () => {
  assert.equal(fieldOf({ identity, modes: ['private', 'none'] }), 'modes');
  assert.deepEqual(resolveOptions({ identity, modes: ['private', 'none'], allowPlaintext: true }).modes, ['private', 'none']);
  assert.deepEqual(resolveOptions({ identity, allowPlaintext: true }).modes, ['private']);
});

test('deadPeerMs must exceed keepaliveMs', () => {
  assert.equal(fieldOf({ identity, keepaliveMs: 1000, deadPeerMs: 1000 }), 'deadPeerMs');
  assert.equal(resolveOptions({ identity, keepaliveMs: 1000, deadPeerMs: 1001 }).deadPeerMs, 1001);
});

test('property: any out-of-range number is refused naming that field', () => {
  const mins: Record<string, number> = {
    maxFrame: 512, maxMessage: 1, datagramSize: 576, keepaliveMs: 10, deadPeerMs: 50, tickMs: 5, handshakeTimeoutMs: 50,
    rekeyAfterMs: 10, rekeyAfterPackets: 16, rekeyAfterBytes: 4096, reassemblyMaxMessages: 1, reassemblyMaxBytes: 1024,
    reassemblyTimeoutMs: 10, recvQueueBytes: 1024, udpPort: 0,
  };
  fc.assert(
    fc.property(fc.constantFrom(...Object.keys(mins)), fc.integer({ min: 1, max: 1000 }), fc.boolean(), (key, below, fraction) => {
      const value = fraction ? mins[key]! + 0.5 : mins[key]! - below;
      assert.equal(fieldOf({ identity, [key]: value }), key);
    }),
    { numRuns: 300 },
  );
});
