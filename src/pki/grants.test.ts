// The site CA grants extension's codec: round trips, DER lengths past 127
// bytes, and refusal (undefined, never a throw) of anything malformed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeGrants, encodeGrants } from './grants.js';

test('round trips, including a body longer than 127 bytes', () => {
  for (const groups of [[], ['staff'], ['staff', 'sales'], Array.from({ length: 40 }, (_, i) => `group-${i}`)]) {
    assert.deepEqual(decodeGrants(encodeGrants(groups)), groups);
  }
  assert.deepEqual([...encodeGrants(['ab'])], [0x30, 0x04, 0x0c, 0x02, 0x61, 0x62]);
});

test('refuses malformed DER and invalid names', () => {
  const bad = [
    [],
    [0x31, 0x00], // SET, not SEQUENCE
    [0x30, 0x02, 0x0c], // short
    [0x30, 0x00, 0x00], // trailing byte
    [0x30, 0x02, 0x04, 0x00], // OCTET STRING item
    [0x30, 0x81, 0x02, 0x0c, 0x00], // non-minimal length
    [0x30, 0x02, 0x0c, 0x00], // empty name
    [0x30, 0x03, 0x0c, 0x01, 0x2f], // "/" is not a name
  ];
  for (const der of bad) assert.equal(decodeGrants(Uint8Array.from(der)), undefined, JSON.stringify(der));
});

test('fuzz: random and bit-flipped input yields a list of valid names or undefined, never a throw', () => {
  const good = encodeGrants(['staff', 'sales']);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat(), (noise, at) => {
      const flipped = Uint8Array.from(good);
      flipped[at % flipped.length]! ^= 1 << (at % 8);
      for (const input of [noise, flipped]) {
        const r = decodeGrants(input);
        assert.ok(r === undefined || (Array.isArray(r) && r.every((g) => /^[A-Za-z0-9._-]{1,64}$/.test(g))));
      }
    }),
    { numRuns: 2000 },
  );
});
