// Static-key mode's keys: both ends derive the same chain from a session id,
// different ids give different keys, epochs of a restarted peer are found
// again, and only a holder of the secret gets a session id learned.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Sealer } from '../../secsock/aead.js';
import { DGRAM_HEADER_SIZE, TAG_SIZE } from '../../secsock/constants.js';
import { writeHeader } from '../../secsock/datagram.js';
import type { KeyChain } from '../../secsock/keys.js';
import { learnStaticPeer } from './learn-static.js';
import { newSessionId, randomCounterStart, staticChain } from './static-keys.js';

const secret = randomBytes(256);

function sealedAt(chain: KeyChain, sid: number, seq: number, counter: number): Buffer {
  let keys = chain.next();
  for (let i = 0; i < seq; i++) keys = chain.next();
  const out = Buffer.alloc(DGRAM_HEADER_SIZE + 2 + TAG_SIZE + 8);
  writeHeader(out, keys.epoch, sid, counter);
  const sealer = new Sealer('aes-256-gcm', 'private', keys);
  const n = sealer.seal(out, DGRAM_HEADER_SIZE, Buffer.from([2, 0]), 2, Buffer.alloc(8), counter);
  sealer.free();
  return out.subarray(0, n);
}

test('both ends derive one chain per session id; another id or secret gives other keys', () => {
  const a = staticChain(secret, 42).next();
  const b = staticChain(secret, 42).next();
  assert.deepEqual(a, b);
  assert.notDeepEqual(staticChain(secret, 43).next().key, a.key);
  assert.notDeepEqual(staticChain(randomBytes(256), 42).next().key, a.key);
});

test('session ids are non-zero 32-bit; counter starts are even and below 2^48', () => {
  for (let i = 0; i < 200; i++) {
    const sid = newSessionId();
    assert.ok(Number.isInteger(sid) && sid >= 1 && sid <= 0xffffffff);
    const c = randomCounterStart();
    assert.ok(Number.isSafeInteger(c) && c >= 0 && c < 2 ** 48 && c % 2 === 0);
  }
});

test('a peer is learned from a datagram sealed under its id, at epoch 0 and after 300 epochs', () => {
  const sid = 0xdeadbeef;
  assert.deepEqual(learnStaticPeer(secret, 'aes-256-gcm', sealedAt(staticChain(secret, sid), sid, 0, 12345)), { sid, epoch: 0 });
  assert.deepEqual(learnStaticPeer(secret, 'aes-256-gcm', sealedAt(staticChain(secret, sid), sid, 300, 7)), { sid, epoch: 300 });
});

test('forged, altered or foreign-secret datagrams teach nothing', () => {
  const sid = 77;
  const good = sealedAt(staticChain(secret, sid), sid, 0, 1);
  const flipped = Buffer.from(good);
  flipped[flipped.length - 1]! ^= 1;
  assert.equal(learnStaticPeer(secret, 'aes-256-gcm', flipped), undefined);
  const other = randomBytes(256);
  assert.equal(learnStaticPeer(secret, 'aes-256-gcm', sealedAt(staticChain(other, sid), sid, 0, 1)), undefined);
  const renamed = Buffer.from(good);
  renamed.writeUInt32BE(78, 2); // the id is authenticated (AAD): another id does not open
  assert.equal(learnStaticPeer(secret, 'aes-256-gcm', renamed), undefined);
  assert.equal(learnStaticPeer(secret, 'aes-256-gcm', Buffer.alloc(5)), undefined);
  assert.equal(learnStaticPeer(secret, 'aes-256-gcm', randomBytes(64)), undefined);
});
