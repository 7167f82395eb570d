// Sealer/Opener over every AEAD and mode: round trips, an independent
// node:crypto computation of the wire bytes, and rejection of any damage.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import fc from 'fast-check';
import { Opener, Sealer, overhead } from './aead.js';
import { AEADS, MODES, type Aead, type Mode } from './algorithms.js';
import { DGRAM_HEADER_SIZE, TAG_SIZE } from './constants.js';
import { writeHeader } from './datagram.js';
import type { EpochKeys } from './keys.js';

const RUNS = 300;
const keys: EpochKeys = { epoch: 3, key: Buffer.alloc(32, 0x11), iv: Buffer.from('000102030405060708090a0b', 'hex') };
const otherKeys: EpochKeys = { epoch: 4, key: Buffer.alloc(32, 0x12), iv: keys.iv };
const SENTINEL = 0xa5;

function seal(aead: Aead, mode: Mode, prefix: Uint8Array, body: Uint8Array, counter: number, k = keys): Buffer {
  const out = Buffer.alloc(DGRAM_HEADER_SIZE + prefix.length + body.length + TAG_SIZE + 8, SENTINEL);
  writeHeader(out, k.epoch, 0xc0ffee, counter);
  const n = new Sealer(aead, mode, k).seal(out, DGRAM_HEADER_SIZE, Buffer.from(prefix), prefix.length, body, counter);
  assert.equal(n, DGRAM_HEADER_SIZE + prefix.length + body.length + overhead(mode));
  assert.ok(out.subarray(n).every((b) => b === SENTINEL), 'seal wrote past its length');
  return out.subarray(0, n);
}
const open = (aead: Aead, mode: Mode, d: Buffer, counter: number, k = keys) => new Opener(aead, mode, k).open(d, DGRAM_HEADER_SIZE, counter);

const combos = AEADS.flatMap((aead) => MODES.map((mode) => [aead, mode] as const));
const authenticated = combos.filter(([, m]) => m !== 'none');
const msgArb = fc.record({ prefix: fc.uint8Array({ maxLength: 10 }), body: fc.uint8Array({ maxLength: 200 }), counter: fc.maxSafeNat() });

test('overhead: a tag unless plaintext', () => {
  assert.equal(overhead('private'), TAG_SIZE);
  assert.equal(overhead('integrity'), TAG_SIZE);
  assert.equal(overhead('none'), 0);
});

test('round trip for every AEAD and mode', () => {
  for (const [aead, mode] of combos) {
    fc.assert(
      fc.property(msgArb, ({ prefix, body, counter }) => {
        const d = seal(aead, mode, prefix, body, counter);
        assert.deepEqual(open(aead, mode, d, counter), Buffer.concat([prefix, body]));
      }),
      { numRuns: RUNS },
    );
  }
});

test('wire bytes match node:crypto with nonce = iv XOR counter (independent computation)', () => {
  const header = Buffer.alloc(DGRAM_HEADER_SIZE);
  for (const aead of AEADS) {
    fc.assert(
      fc.property(msgArb, ({ prefix, body, counter }) => {
        const nonce = Buffer.from(keys.iv);
        const x = nonce.readBigUInt64BE(4) ^ BigInt(counter);
        nonce.writeBigUInt64BE(x, 4);
        writeHeader(header, keys.epoch, 0xc0ffee, counter);
        const plain = Buffer.concat([prefix, body]);

        const c = createCipheriv(aead as 'aes-256-gcm', keys.key, nonce, { authTagLength: 16 });
        c.setAAD(header);
        const ct = Buffer.concat([c.update(plain), c.final()]);
        assert.deepEqual(seal(aead, 'private', prefix, body, counter), Buffer.concat([header, ct, c.getAuthTag()]));

        const g = createCipheriv(aead as 'aes-256-gcm', keys.key, nonce, { authTagLength: 16 });
        g.setAAD(Buffer.concat([header, plain]));
        g.final();
        assert.deepEqual(seal(aead, 'integrity', prefix, body, counter), Buffer.concat([header, plain, g.getAuthTag()]));

        assert.deepEqual(seal(aead, 'none', prefix, body, counter), Buffer.concat([header, plain]));
      }),
      { numRuns: 100 },
    );
  }
});

test('private hides the payload; integrity sends it in the clear', () => {
  const body = Buffer.alloc(64, 0x41);
  for (const aead of AEADS) {
    const p = seal(aead, 'private', Buffer.alloc(0), body, 1);
    assert.ok(!p.includes(Buffer.alloc(16, 0x41)), aead);
    assert.ok(seal(aead, 'integrity', Buffer.alloc(0), body, 1).includes(body), aead);
    assert.notDeepEqual(p.subarray(DGRAM_HEADER_SIZE), seal(aead, 'private', Buffer.alloc(0), body, 2).subarray(DGRAM_HEADER_SIZE), 'nonce changes with the counter');
  }
});

test('any single bit flip, in header, payload or tag, fails to open', () => {
  for (const [aead, mode] of authenticated) {
    fc.assert(
      fc.property(msgArb, fc.nat(), fc.integer({ min: 0, max: 7 }), ({ prefix, body, counter }, pos, bit) => {
        const d = Buffer.from(seal(aead, mode, prefix, body, counter));
        d[pos % d.length]! ^= 1 << bit;
        assert.equal(open(aead, mode, d, counter), undefined);
      }),
      { numRuns: RUNS },
    );
  }
});

test('a wrong counter, key or AEAD fails to open', () => {
  for (const [aead, mode] of authenticated) {
    fc.assert(
      fc.property(msgArb, fc.maxSafeNat(), ({ prefix, body, counter }, other) => {
        fc.pre(other !== counter);
        const d = seal(aead, mode, prefix, body, counter);
        assert.equal(open(aead, mode, d, other), undefined);
        assert.equal(open(aead, mode, d, counter, otherKeys), undefined);
        assert.equal(open(aead === 'aes-256-gcm' ? 'chacha20-poly1305' : 'aes-256-gcm', mode, d, counter), undefined);
        // With an empty payload both modes authenticate just the header, so the tags agree.
        if (prefix.length + body.length > 0) assert.equal(open(aead, mode === 'private' ? 'integrity' : 'private', d, counter), undefined);
      }),
      { numRuns: RUNS },
    );
    // Counters differing only above bit 32 use different nonces.
    const d = seal(aead, mode, Buffer.alloc(2), Buffer.from('x'), 5);
    assert.equal(open(aead, mode, d, 2 ** 32 + 5), undefined);
    assert.equal(open(aead, mode, d, 2 ** 52 + 5), undefined);
  }
});

test('truncated or random datagrams fail to open, without throwing', () => {
  for (const [aead, mode] of authenticated) {
    fc.assert(
      fc.property(msgArb, fc.nat(), fc.uint8Array({ maxLength: 80 }), ({ prefix, body, counter }, cut, junk) => {
        const d = seal(aead, mode, prefix, body, counter);
        assert.equal(open(aead, mode, d.subarray(0, cut % d.length), counter), undefined);
        assert.equal(open(aead, mode, Buffer.from(junk), counter), undefined);
      }),
      { numRuns: RUNS },
    );
  }
});

test("mode 'none' has no integrity: damage passes through (both ends opted into plaintext)", () => {
  for (const aead of AEADS) {
    const d = Buffer.from(seal(aead, 'none', Buffer.from([0, 0]), Buffer.from('pay 10 EUR'), 1));
    d[DGRAM_HEADER_SIZE + 6] = '9'.charCodeAt(0);
    d[1] ^= 0xff;
    assert.deepEqual(open(aead, 'none', d, 12345, otherKeys), Buffer.from('\0\0pay 90 EUR'));
    assert.deepEqual(open(aead, 'none', d.subarray(0, 3), 1), Buffer.alloc(0));
  }
});
