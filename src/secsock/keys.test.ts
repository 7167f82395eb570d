import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, hkdfSync } from 'node:crypto';
import { HASHES, HASH_SIZE, type Hash } from './algorithms.js';
import { KEY_SIZE, NONCE_SIZE } from './constants.js';
import { KeyChain, exporterContext, initialChains, nonceSalt } from './keys.js';

const nonceC = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
const nonceS = Buffer.from(Array.from({ length: 32 }, (_, i) => 0x80 + i));

/**
 * Stand-in for TLS-Exporter(label, context, len): deterministic in the
 * context, as the real one is for one TLS session. The channel id reaches the
 * keys only through this context.
 */
const exporter = (hash: Hash, context: Buffer) =>
  Buffer.from(hkdfSync(hash, Buffer.from('tls session secret'), '', Buffer.concat([Buffer.from('EXPORTER-insel-secsock-v1'), context]), HASH_SIZE[hash]));

function schedule(hash: Hash, nc = nonceC, ns = nonceS, channelId = 7, epochs = 3) {
  const exported = exporter(hash, exporterContext(nc, ns, channelId));
  const { c2s, s2c } = initialChains(hash, exported, nc, ns);
  const run = (chain: KeyChain) => Array.from({ length: epochs }, () => chain.next());
  return { c2s: run(new KeyChain(hash, c2s)), s2c: run(new KeyChain(hash, s2c)) };
}
const hex = (keys: { key: Buffer; iv: Buffer }[]) => keys.map((k) => k.key.toString('hex') + k.iv.toString('hex'));

// Known answers for exported = 0x5a × Hlen and the nonces above, computed
// once from the formulas in keys.ts with node:crypto alone (see below).
const KAT = {
  sha256: {
    salt: '2f8f21ec63bbc3137592037ed6793d130d03470f21da0acd38d88eb605f20303',
    c2s: [
      ['67f51dcb37c51c9d620595e8a667727f3e453ab54fb453d04520ebd4478f38d1', '0f9b6168ea6e1150a07637dd'],
      ['037b22217c0d6b449b558991845b002c8ca92e400c1e740bd0ad7b9e598159da', '7b0cd04b0ec1d17f82b695c0'],
    ],
    s2c: [
      ['8dfcda53a112b8d2c7268e5c4ff3be508633fe52755f3035e5373060c4f2a4ed', '4e45d9af46d6f34f58297a24'],
      ['f072c21df2bdddeb1ba6b2aeb0f41e3311e0000c1319bb3736bb2643bb96c2b3', 'fb51abe4c77851584e3b6d55'],
    ],
  },
  sha384: {
    salt: 'cb2f861a2b9d8e29a008011d1b283ede31db526b5a9d719dd4fd1929aab70065a5722d1bd1fe3091d69389d9233bc07f',
    c2s: [
      ['20f72a5c7356d6641d0745f5ed7fa22f901bd9f3bb4f93693a116053b420e8ac', '6ab019d8b9df909fd0766e0f'],
      ['6a7da251e50e59fdc20773971283027e7977478f24e2e609a36ef41ed8b0fc27', '50434dc73960a6a49152bdd2'],
    ],
    s2c: [
      ['8129c0a76d076017d4afd91cbcb5dddf672c93d91bef6ca120b694495bc2d129', '6081ae14667693a67a5564f2'],
      ['7182ecb9e79e680e24ba42bf566f159dbea3101606b96bcf0f6a1205e96ca9cf', '719e2e2c4ea347be6b53c3a6'],
    ],
  },
} as const;

/** The schedule written out with node:crypto only, independent of keys.ts. */
function independent(hash: 'sha256' | 'sha384', exported: Buffer) {
  const H = (b: Buffer) => createHash(hash).update(b).digest();
  const hc = H(nonceC);
  const hs = H(nonceS);
  const salt = H(Buffer.from(hc.map((x, i) => x ^ hs[i]!)));
  const hk = (ikm: Buffer, s: Buffer | string, info: string, len: number) => Buffer.from(hkdfSync(hash, ikm, s, info, len));
  const out = { salt: salt.toString('hex'), c2s: [] as string[][], s2c: [] as string[][] };
  for (const dir of ['c2s', 's2c'] as const) {
    let chain = hk(exported, salt, `insel/v1 ${dir}`, HASH_SIZE[hash]);
    for (let e = 0; e < 2; e++) {
      out[dir].push([hk(chain, '', 'insel/v1 key', 32).toString('hex'), hk(chain, '', 'insel/v1 iv', 12).toString('hex')]);
      chain = hk(chain, '', 'insel/v1 next', HASH_SIZE[hash]);
    }
  }
  return out;
}

test('known-answer vectors: the schedule has not changed', () => {
  for (const hash of ['sha256', 'sha384'] as const) {
    const exported = Buffer.alloc(HASH_SIZE[hash], 0x5a);
    assert.deepEqual(independent(hash, exported), KAT[hash], `${hash}: the vectors match the written-out formulas`);
    assert.equal(nonceSalt(hash, nonceC, nonceS).toString('hex'), KAT[hash].salt);
    const { c2s, s2c } = initialChains(hash, exported, nonceC, nonceS);
    for (const [dir, chain0] of [['c2s', c2s], ['s2c', s2c]] as const) {
      const chain = new KeyChain(hash, chain0);
      for (let e = 0; e < 2; e++) {
        const k = chain.next();
        assert.equal(k.epoch, e);
        assert.deepEqual([k.key.toString('hex'), k.iv.toString('hex')], KAT[hash][dir][e], `${hash} ${dir} epoch ${e}`);
      }
    }
  }
});

test('exporter context is nonce_c ‖ nonce_s ‖ channel id (u32be)', () => {
  const ctx = exporterContext(nonceC, nonceS, 0x01020304);
  assert.equal(ctx.length, 68);
  assert.deepEqual(ctx.subarray(0, 32), nonceC);
  assert.deepEqual(ctx.subarray(32, 64), nonceS);
  assert.deepEqual([...ctx.subarray(64)], [1, 2, 3, 4]);
});

test('salt is H(H(nonce_c) XOR H(nonce_s)): symmetric in the nonces, hash-sized', () => {
  for (const hash of HASHES) {
    const s = nonceSalt(hash, nonceC, nonceS);
    assert.equal(s.length, HASH_SIZE[hash]);
    assert.deepEqual(nonceSalt(hash, nonceS, nonceC), s);
    assert.notDeepEqual(nonceSalt(hash, nonceC, nonceC), s);
  }
});

test('deterministic: same inputs, same keys, for every hash', () => {
  for (const hash of HASHES) {
    const a = schedule(hash);
    const b = schedule(hash);
    assert.deepEqual(hex(a.c2s), hex(b.c2s), hash);
    assert.deepEqual(hex(a.s2c), hex(b.s2c), hash);
    for (const k of [...a.c2s, ...a.s2c]) {
      assert.equal(k.key.length, KEY_SIZE);
      assert.equal(k.iv.length, NONCE_SIZE);
    }
  }
});

test('every key and iv differs across directions, epochs, nonces, channel ids and hashes', () => {
  const seen = new Map<string, string>();
  const add = (label: string, keys: { key: Buffer; iv: Buffer }[]) =>
    keys.forEach((k, e) => {
      for (const [part, v] of [['key', k.key], ['iv', k.iv]] as const) {
        const h = v.toString('hex');
        assert.equal(seen.get(h), undefined, `${label} epoch ${e} ${part} repeats ${seen.get(h)}`);
        seen.set(h, `${label} epoch ${e} ${part}`);
      }
    });
  const otherC = Buffer.from(nonceC);
  otherC[31]! ^= 1;
  const otherS = Buffer.from(nonceS);
  otherS[0]! ^= 0x80;
  for (const hash of HASHES) {
    for (const [label, s] of [
      ['base', schedule(hash)],
      ['nonce_c', schedule(hash, otherC)],
      ['nonce_s', schedule(hash, nonceC, otherS)],
      ['swapped nonces', schedule(hash, nonceS, nonceC)],
      ['channel 8', schedule(hash, nonceC, nonceS, 8)],
    ] as const) {
      add(`${hash} ${label} c2s`, s.c2s);
      add(`${hash} ${label} s2c`, s.s2c);
    }
  }
});

test('the ratchet wipes each chain value once its successor exists', () => {
  const { c2s } = initialChains('sha256', Buffer.alloc(32, 1), nonceC, nonceS);
  const copy = Buffer.from(c2s);
  const chain = new KeyChain('sha256', c2s);
  chain.next();
  assert.ok(c2s.equals(Buffer.alloc(32)), 'chain_0 zeroed');
  // A second chain from the saved copy reproduces the same epochs.
  const again = new KeyChain('sha256', copy);
  const first = again.next();
  assert.deepEqual(first, new KeyChain('sha256', Buffer.from(initialChains('sha256', Buffer.alloc(32, 1), nonceC, nonceS).c2s)).next());
});

test('epoch numbers wrap at 256 while keys keep changing', () => {
  const chain = new KeyChain('sha256', Buffer.alloc(32, 9));
  const keys = Array.from({ length: 258 }, () => chain.next());
  assert.deepEqual(keys.map((k) => k.epoch).slice(254), [254, 255, 0, 1]);
  assert.equal(new Set(keys.map((k) => k.key.toString('hex'))).size, 258);
  assert.equal(new Set(keys.map((k) => k.iv.toString('hex'))).size, 258);
});
