import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AEADS, COMPRESSIONS, HASHES, MODES } from './algorithms.js';
import { NegotiationError } from './errors.js';
import { negotiate, type Offer, type Preferences } from './negotiate.js';

const server: Preferences = {
  aeads: ['chacha20-poly1305', 'aes-256-gcm'],
  hashes: ['sha384', 'sha256'],
  compressions: ['deflate', 'none'],
  modes: ['private', 'integrity'],
};
const offer: Offer = {
  aeads: ['aes-256-gcm', 'chacha20-poly1305'],
  hashes: ['sha256', 'sha384', 'sha512'],
  compressions: ['none', 'deflate'],
  modes: ['integrity', 'private'],
};

function refusal(f: () => unknown): NegotiationError {
  try {
    f();
  } catch (err) {
    assert.ok(err instanceof NegotiationError, String(err));
    return err;
  }
  assert.fail('negotiated');
}

test("the server's preference wins over the client's order", () => {
  assert.deepEqual(negotiate(offer, server), { aead: 'chacha20-poly1305', hash: 'sha384', compression: 'deflate', mode: 'private' });
});

test('unknown names from a newer peer are ignored', () => {
  const c = negotiate({ ...offer, aeads: ['aegis-256', 'aes-256-gcm'], hashes: ['sha3-256', 'sha256'] }, server);
  assert.equal(c.aead, 'aes-256-gcm');
  assert.equal(c.hash, 'sha256');
});

test('names that are Object.prototype keys are unknown, not broken', () => {
  for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf']) {
    assert.equal(negotiate({ ...offer, aeads: [name, 'aes-256-gcm'] }, server).aead, 'aes-256-gcm', name);
  }
});

test('no common choice: the error lists both sides for each failing dimension', () => {
  const e = refusal(() => negotiate({ ...offer, aeads: ['aes-256-gcm'], modes: ['none'] }, { ...server, aeads: ['chacha20-poly1305'] }, '10.0.0.1:4433'));
  assert.equal(e.code, 'INSEL_NO_COMMON_CHOICE');
  assert.equal(e.peer, '10.0.0.1:4433');
  assert.match(e.message, /aeads: 10\.0\.0\.1:4433 offered \[aes-256-gcm\], server allows \[chacha20-poly1305\]/);
  assert.match(e.message, /modes: 10\.0\.0\.1:4433 offered \[none\], server allows \[private, integrity\]/);
  assert.doesNotMatch(e.message, /hashes:/);
  const empty = refusal(() => negotiate({ ...offer, compressions: [] }, server));
  assert.match(empty.message, /compressions: client offered \[\], server allows \[deflate, none\]/);
});

test('a broken name in any list is refused by name, naming the fix', () => {
  const cases: [keyof Offer, string, RegExp][] = [
    ['aeads', 'des-cbc', /aes-256-gcm or chacha20-poly1305/],
    ['aeads', 'RC4', /aes-256-gcm or chacha20-poly1305/],
    ['aeads', 'blowfish', /aes-256-gcm/],
    ['aeads', 'idea', /aes-256-gcm/],
    ['hashes', 'md5', /sha256, sha384, sha512 or blake2b512/],
    ['hashes', 'SHA1', /sha256/],
    ['modes', '3des', /aes-256-gcm/],
  ];
  for (const [list, name, fix] of cases) {
    // Even next to acceptable names: a client asking for DES is misconfigured.
    const e = refusal(() => negotiate({ ...offer, [list]: [...offer[list], name] }, server, 'peer'));
    assert.equal(e.code, 'INSEL_BROKEN_ALGORITHM', name);
    assert.ok(e.message.includes(`peer offered ${list}: ${name} is broken`), e.message);
    assert.match(e.message, fix);
  }
});

test("mode 'none' only when both sides list it", () => {
  const plainServer: Preferences = { ...server, modes: ['private', 'none'] };
  assert.equal(negotiate({ ...offer, modes: ['none'] }, plainServer).mode, 'none');
  assert.equal(negotiate({ ...offer, modes: ['none', 'private'] }, plainServer).mode, 'private');
  assert.equal(refusal(() => negotiate({ ...offer, modes: ['none'] }, server)).code, 'INSEL_NO_COMMON_CHOICE');
  assert.equal(refusal(() => negotiate({ ...offer, modes: ['private'] }, { ...server, modes: ['none'] })).code, 'INSEL_NO_COMMON_CHOICE');
});

test('property: the choice is the first server name the client offered, else a refusal', () => {
  const dims = [
    ['aeads', 'aead', AEADS],
    ['hashes', 'hash', HASHES],
    ['compressions', 'compression', COMPRESSIONS],
    ['modes', 'mode', MODES],
  ] as const;
  const sub = <T extends string>(all: readonly T[]) => fc.shuffledSubarray([...all]);
  const withForeign = <T extends string>(all: readonly T[]) =>
    fc.tuple(sub(all), fc.array(fc.constantFrom('aegis-256', 'sha3-512', 'zstd', 'turbo', 'constructor'), { maxLength: 2 })).chain(([a, b]) =>
      fc.shuffledSubarray([...a, ...b], { minLength: a.length + b.length }),
    );
  fc.assert(
    fc.property(
      fc.record({ aeads: sub(AEADS), hashes: sub(HASHES), compressions: sub(COMPRESSIONS), modes: sub(MODES) }),
      fc.record({ aeads: withForeign(AEADS), hashes: withForeign(HASHES), compressions: withForeign(COMPRESSIONS), modes: withForeign(MODES) }),
      (prefs, off) => {
        const expected = dims.map(([list]) => (prefs[list] as readonly string[]).find((n) => (off[list] as readonly string[]).includes(n)));
        if (expected.every((x) => x !== undefined)) {
          const c = negotiate(off, prefs);
          dims.forEach(([, key], i) => assert.equal(c[key], expected[i]));
        } else {
          const e = refusal(() => negotiate(off, prefs, 'peer'));
          assert.equal(e.code, 'INSEL_NO_COMMON_CHOICE');
          dims.forEach(([list], i) => {
            if (expected[i] !== undefined) return;
            assert.ok(e.message.includes(`${list}: peer offered [${off[list].join(', ')}], server allows [${prefs[list].join(', ')}]`), e.message);
          });
        }
      },
    ),
    { numRuns: 1000 },
  );
});
