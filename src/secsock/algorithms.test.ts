import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, getCiphers, getHashes } from 'node:crypto';
import { AEADS, COMPRESSIONS, HASHES, HASH_SIZE, MODES, brokenAlgorithmError } from './algorithms.js';
import { NegotiationError } from './errors.js';

const CIPHER_FIX = 'use aes-256-gcm or chacha20-poly1305';
const HASH_FIX = 'use sha256, sha384, sha512 or blake2b512';

test('broken ciphers and hashes are refused, naming the modern choice', () => {
  const ciphers = ['des', 'DES-CBC', '3des', 'des-ede3', 'des-ede3-cbc', 'IDEA', 'idea-cbc', 'rc4', 'arcfour', 'Blowfish', 'bf', 'bf-cbc'];
  const hashes = ['md5', 'MD5', 'sha1', 'SHA-1'];
  for (const [names, fix] of [[ciphers, CIPHER_FIX], [hashes, HASH_FIX]] as const) {
    for (const name of names) {
      const e = brokenAlgorithmError(name, 'site.yml aeads');
      assert.ok(e instanceof NegotiationError, name);
      assert.equal(e.code, 'INSEL_BROKEN_ALGORITHM');
      assert.equal(e.field, 'site.yml aeads');
      assert.equal(e.message, `site.yml aeads: ${name} is broken and insel does not implement it; ${fix}`);
    }
  }
});

test('supported and unknown names are not refused', () => {
  for (const name of [...AEADS, ...HASHES, ...COMPRESSIONS, ...MODES, 'aegis-256', '', 'des-ede3-cbc-hmac']) {
    assert.equal(brokenAlgorithmError(name, 'x'), undefined, name);
  }
});

test('Object.prototype keys are unknown names, not broken ones', () => {
  for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__', 'isPrototypeOf']) {
    assert.equal(brokenAlgorithmError(name, 'x'), undefined, name);
  }
});

test('every offered algorithm exists in node:crypto, with the stated hash size', () => {
  for (const a of AEADS) assert.ok(getCiphers().includes(a), a);
  for (const h of HASHES) {
    assert.ok(getHashes().includes(h), h);
    assert.equal(createHash(h).digest().length, HASH_SIZE[h], h);
  }
});
