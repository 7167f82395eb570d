// PeerKeys drives the plane's key slots: what it installs at start, on a
// promotion and at rekey, and that it wipes its copies of the keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { KeyChain } from '../secsock/keys.js';
import { PREV_KEEP_MS, PeerKeys, type KeySink } from './peer-keys.js';

type Call = [string, ...unknown[]];

function sink(): KeySink & { calls: Call[]; keys: Buffer[] } {
  const calls: Call[] = [];
  const keys: Buffer[] = [];
  return {
    calls,
    keys,
    setSendKey: (_id, epoch, key, _iv, start) => {
      keys.push(key);
      calls.push(['send', epoch, start]);
    },
    setRecvKey: (_id, slot, epoch, key) => {
      if (key) keys.push(key);
      calls.push(['recv', slot, key === null ? 'drop' : epoch]);
    },
  };
}

const chains = () => [new KeyChain('sha256', randomBytes(32)), new KeyChain('sha256', randomBytes(32))] as const;

test('install: send epoch 0, receive cur 0 and next 1; keys wiped once handed over', () => {
  const s = sink();
  const [send, recv] = chains();
  new PeerKeys(s, 1, send, recv).install(0);
  assert.deepEqual(s.calls, [['send', 0, 0], ['recv', 'cur', 0], ['recv', 'next', 1]]);
  for (const k of s.keys) assert.ok(k.every((b) => b === 0), 'a key was left in JS memory');
});

test('a promotion installs the following epoch as next and drops prev after PREV_KEEP_MS', () => {
  const s = sink();
  const [send, recv] = chains();
  const k = new PeerKeys(s, 1, send, recv);
  k.install(0);
  s.calls.length = 0;
  k.promoted(1000);
  assert.deepEqual(s.calls, [['recv', 'next', 2]]);
  k.tick(1000 + PREV_KEEP_MS - 1, 0);
  assert.equal(s.calls.length, 1);
  k.tick(1000 + PREV_KEEP_MS, 0);
  assert.deepEqual(s.calls[1], ['recv', 'prev', 'drop']);
});

test('rekey after the packet limit or the time limit, with the configured counter start', () => {
  const s = sink();
  const [send, recv] = chains();
  let start = 100;
  const k = new PeerKeys(s, 1, send, recv, { rekeyAfterPackets: 10, rekeyAfterMs: 5000, counterStart: () => start });
  k.install(0);
  k.tick(1, 109);
  assert.equal(s.calls.filter((c) => c[0] === 'send').length, 1);
  start = 500;
  k.tick(2, 110); // 10 packets from 100
  assert.deepEqual(s.calls.at(-1), ['send', 1, 500]);
  k.tick(5001, 501);
  assert.deepEqual(s.calls.at(-1), ['send', 1, 500]);
  k.tick(5002, 502); // 5000 ms after the epoch began at 2
  assert.deepEqual(s.calls.at(-1), ['send', 2, 500]);
});

test('no time limit when rekeyAfterMs is 0 (static-key mode)', () => {
  const s = sink();
  const [send, recv] = chains();
  const k = new PeerKeys(s, 1, send, recv, { rekeyAfterMs: 0 });
  k.install(0);
  k.tick(10 ** 9, 5);
  assert.equal(s.calls.filter((c) => c[0] === 'send').length, 1);
});
