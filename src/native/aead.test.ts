// The addon's AEAD (native/aead.c) against node:crypto, the reference:
// byte-identical seals for random keys, nonces, AAD and payloads of every
// size, each opening the other's; published vectors; and hostile input from
// JavaScript: forged datagrams give -1, misuse a TypeError/RangeError, never a crash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { addon } from './addon.js';
import { AEADS, type Aead } from '../secsock/algorithms.js';

const TAG = 16;
const MODES = ['private', 'integrity'] as const;
type Mode = (typeof MODES)[number];

function nonceOf(iv: Buffer, counter: number): Buffer {
  const n = Buffer.from(iv);
  n.writeBigUInt64BE(n.readBigUInt64BE(4) ^ BigInt(counter), 4);
  return n;
}

/** node:crypto's datagram: header ‖ (payload encrypted unless integrity) ‖ tag. */
function referenceSeal(aead: Aead, mode: Mode, key: Buffer, iv: Buffer, header: Buffer, payload: Buffer, counter: number): Buffer {
  const c = createCipheriv(aead as 'aes-256-gcm', key, nonceOf(iv, counter), { authTagLength: TAG });
  c.setAAD(mode === 'private' ? header : Buffer.concat([header, payload]));
  const body = mode === 'private' ? Buffer.concat([c.update(payload), c.final()]) : (c.final(), payload);
  return Buffer.concat([header, body, c.getAuthTag()]);
}

function referenceOpen(aead: Aead, mode: Mode, key: Buffer, iv: Buffer, d: Buffer, headerLen: number, counter: number): Buffer | undefined {
  const end = d.length - TAG;
  const c = createDecipheriv(aead as 'aes-256-gcm', key, nonceOf(iv, counter), { authTagLength: TAG });
  c.setAuthTag(d.subarray(end));
  c.setAAD(d.subarray(0, mode === 'private' ? headerLen : end));
  try {
    return mode === 'private' ? Buffer.concat([c.update(d.subarray(headerLen, end)), c.final()]) : (c.final(), d.subarray(headerLen, end));
  } catch {
    return undefined;
  }
}

function nativeSeal(aead: Aead, mode: Mode, key: Buffer, iv: Buffer, header: Buffer, payload: Buffer, counter: number): Buffer {
  const buf = Buffer.concat([header, payload, Buffer.alloc(TAG + 3, 0xa5)]);
  const ctx = addon.aeadCreate(aead, key, iv, true, mode === 'integrity');
  const n = addon.aeadSeal(ctx, buf, header.length, header.length + payload.length, counter);
  addon.aeadFree(ctx);
  assert.equal(n, header.length + payload.length + TAG);
  assert.deepEqual(buf.subarray(n), Buffer.alloc(3, 0xa5), 'wrote past the tag');
  return buf.subarray(0, n);
}

function nativeOpen(aead: Aead, mode: Mode, key: Buffer, iv: Buffer, d: Buffer, headerLen: number, counter: number): Buffer | undefined {
  const ctx = addon.aeadCreate(aead, key, iv, false, mode === 'integrity');
  const buf = Buffer.from(d);
  const n = addon.aeadOpen(ctx, buf, headerLen, counter);
  return n < 0 ? undefined : buf.subarray(headerLen, headerLen + n);
}

const caseArb = fc.record({
  aead: fc.constantFrom(...AEADS),
  mode: fc.constantFrom(...MODES),
  key: fc.uint8Array({ minLength: 32, maxLength: 32 }).map(Buffer.from),
  iv: fc.uint8Array({ minLength: 12, maxLength: 12 }).map(Buffer.from),
  header: fc.uint8Array({ maxLength: 40 }).map(Buffer.from),
  payload: fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ minLength: 1300, maxLength: 1500 })).map(Buffer.from),
  counter: fc.oneof(fc.nat(), fc.maxSafeNat(), fc.constant(Number.MAX_SAFE_INTEGER)),
});

test('native seal == node:crypto seal, and each opens the other', () => {
  fc.assert(
    fc.property(caseArb, ({ aead, mode, key, iv, header, payload, counter }) => {
      const mine = nativeSeal(aead, mode, key, iv, header, payload, counter);
      const ref = referenceSeal(aead, mode, key, iv, header, payload, counter);
      assert.deepEqual(mine, ref);
      assert.deepEqual(nativeOpen(aead, mode, key, iv, ref, header.length, counter), payload);
      assert.deepEqual(referenceOpen(aead, mode, key, iv, mine, header.length, counter), payload);
    }),
    { numRuns: 400 },
  );
});

test('one context seals many packets: only the nonce changes', () => {
  for (const aead of AEADS) {
    const key = randomBytes(32);
    const iv = randomBytes(12);
    const ctx = addon.aeadCreate(aead, key, iv, true, false);
    for (let counter = 0; counter < 50; counter++) {
      const payload = randomBytes(counter * 7);
      const buf = Buffer.concat([Buffer.from([counter]), payload, Buffer.alloc(TAG)]);
      addon.aeadSeal(ctx, buf, 1, 1 + payload.length, counter);
      assert.deepEqual(buf, referenceSeal(aead, 'private', key, iv, Buffer.from([counter]), payload, counter));
    }
  }
});

test('known answers: AES-256-GCM (McGrew-Viega test case 16), ChaCha20-Poly1305 (RFC 8439 §2.8.2)', () => {
  const gcmKey = Buffer.from('feffe9928665731c6d6a8f9467308308'.repeat(2), 'hex');
  const gcm = nativeSeal(
    'aes-256-gcm', 'private', gcmKey,
    Buffer.from('cafebabefacedbaddecaf888', 'hex'),
    Buffer.from('feedfacedeadbeeffeedfacedeadbeefabaddad2', 'hex'),
    Buffer.from('d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39', 'hex'),
    0,
  );
  assert.equal(
    gcm.subarray(20).toString('hex'),
    '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662' + '76fc6ece0f4e1768cddf8853bb2d551b',
  );
  // RFC nonce 07000000 40414243 44454647 = iv 07000000 40414243 00000000 XOR counter 0x44454647.
  const chachaKey = Buffer.from(Array.from({ length: 32 }, (_, i) => 0x80 + i));
  const text = "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
  const chacha = nativeSeal(
    'chacha20-poly1305', 'private', chachaKey,
    Buffer.from('070000004041424300000000', 'hex'),
    Buffer.from('50515253c0c1c2c3c4c5c6c7', 'hex'),
    Buffer.from(text),
    0x44454647,
  );
  assert.equal(chacha.subarray(12, 28).toString('hex'), 'd31a8d34648e60db7b86afbc53ef7ec2');
  assert.equal(chacha.subarray(chacha.length - TAG).toString('hex'), '1ae10b594f09e26a7e902ecbd0600691');
});

test('open: random, truncated or bit-flipped datagrams give -1, and no unauthentic plaintext is left', () => {
  fc.assert(
    fc.property(caseArb, fc.nat(), fc.nat(), fc.uint8Array({ maxLength: 100 }), fc.nat(100), (c, cut, flip, junk, headerLen) => {
      const d = nativeSeal(c.aead, c.mode, c.key, c.iv, c.header, c.payload, c.counter);
      const flipped = Buffer.from(d);
      flipped[flip % d.length]! ^= 1 << flip % 8;
      assert.equal(nativeOpen(c.aead, c.mode, c.key, c.iv, flipped, c.header.length, c.counter), undefined);
      assert.equal(nativeOpen(c.aead, c.mode, c.key, c.iv, d.subarray(0, cut % d.length), c.header.length, c.counter), undefined);
      assert.equal(nativeOpen(c.aead, c.mode, c.key, c.iv, Buffer.from(junk), headerLen, c.counter), undefined);
      const ctx = addon.aeadCreate(c.aead, c.key, c.iv, false, false);
      const buf = Buffer.from(flipped);
      if (addon.aeadOpen(ctx, buf, c.header.length, c.counter) < 0) assert.ok(buf.subarray(c.header.length, buf.length - TAG).every((b) => b === 0));
    }),
    { numRuns: 300 },
  );
});

test('misuse throws TypeError or RangeError, never crashes', () => {
  const key = randomBytes(32);
  const iv = randomBytes(12);
  const enc = addon.aeadCreate('aes-256-gcm', key, iv, true, false);
  const dec = addon.aeadCreate('aes-256-gcm', key, iv, false, false);
  const buf = Buffer.alloc(64);
  const bad: [() => unknown, typeof TypeError | typeof RangeError][] = [
    [() => addon.aeadCreate('aes-128-gcm', key, iv, true, false), RangeError],
    [() => addon.aeadCreate(7 as never, key, iv, true, false), TypeError],
    [() => addon.aeadCreate('aes-256-gcm', key.subarray(1), iv, true, false), RangeError],
    [() => addon.aeadCreate('aes-256-gcm', key, Buffer.alloc(16), true, false), RangeError],
    [() => addon.aeadCreate('aes-256-gcm', 'k' as never, iv, true, false), TypeError],
    [() => addon.aeadCreate('aes-256-gcm', key, iv, 1 as never, false), TypeError],
    [() => (addon.aeadCreate as (...a: unknown[]) => unknown)(), TypeError],
    [() => addon.aeadSeal({} as never, buf, 0, 0, 0), TypeError],
    [() => addon.aeadSeal(dec, buf, 0, 0, 0), TypeError],
    [() => addon.aeadSeal(enc, buf, 0, 49, 0), RangeError],
    [() => addon.aeadSeal(enc, buf, 10, 9, 0), RangeError],
    [() => addon.aeadSeal(enc, buf, -1, 9, 0), RangeError],
    [() => addon.aeadSeal(enc, buf, 1.5, 9, 0), RangeError],
    [() => addon.aeadSeal(enc, buf, 0, NaN, 0), RangeError],
    [() => addon.aeadSeal(enc, buf, 0, 8, 2 ** 53), RangeError],
    [() => addon.aeadSeal(enc, buf, 0, 8, -1), RangeError],
    [() => addon.aeadSeal(enc, buf, 0, 8, 0.5), RangeError],
    [() => addon.aeadSeal(enc, buf, 0, 8, '1' as never), TypeError],
    [() => addon.aeadSeal(enc, Buffer.alloc(15), 0, 0, 0), RangeError],
    [() => addon.aeadSeal(enc, new ArrayBuffer(64) as never, 0, 0, 0), TypeError],
    [() => addon.aeadOpen(enc, buf, 0, 0), TypeError],
    [() => addon.aeadOpen(dec, buf, -3, 0), RangeError],
    [() => addon.aeadOpen(dec, buf, 0, Infinity), RangeError],
    [() => addon.aeadOpen(dec, null as never, 0, 0), TypeError],
    [() => addon.aeadFree('x' as never), TypeError],
  ];
  for (const [f, kind] of bad) assert.throws(f, kind, f.toString());
  assert.equal(addon.aeadOpen(dec, buf, 60, 0), -1, 'a short datagram is the peer\'s: -1, not an exception');
  addon.aeadFree(enc);
  addon.aeadFree(enc);
  assert.throws(() => addon.aeadSeal(enc, buf, 0, 0, 0), TypeError, 'use after free');
});
