// Enrollment codes: shape, round trip, tolerance for how people copy them,
// a message per kind of damage, and the CA pin.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createCert, createRootCert, newKeyPair, type Signer } from '../../pki/certgen.js';
import { newCode, parseCode, pinMatches, pinnedRoot, pinOf } from './code.js';
import { EnrollError, enrollRefusal } from './errors.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const validity = { notBefore: new Date(Date.now() - DAY_MS), notAfter: new Date(Date.now() + DAY_MS) };

async function root(org: string): Promise<Signer & { der: Buffer }> {
  const keys = await newKeyPair();
  const cert = await createRootCert(org, keys, validity);
  return { cert, privateKey: keys.privateKey, der: Buffer.from(cert.rawData) };
}

function malformed(text: string, why: RegExp): void {
  assert.throws(
    () => parseCode(text),
    (err: unknown) => err instanceof EnrollError && err.code === 'INSEL_CODE_MALFORMED' && why.test(err.message) && /ask the administrator for a new code/.test(err.message),
  );
}

test('a new code has the documented shape and parses back to its id, secret hash and pin', async () => {
  const r = await root('Acme');
  const c = newCode(r.der);
  assert.match(c.text, /^insel-[a-z2-7]{16}-[a-z2-7]{32}-[a-z2-7]{12}$/);
  assert.equal(c.text.length, 68);
  const p = parseCode(c.text);
  assert.deepEqual({ id: p.id, hash: p.secretHash.toString('hex'), pin: p.pin }, { id: c.id, hash: c.secretHash.toString('hex'), pin: c.pin });
  assert.equal(p.pin, pinOf(r.der));
  assert.notEqual(newCode(r.der).id, c.id);
  // whitespace and case as people copy codes
  assert.deepEqual(parseCode(`  \n${c.text.toUpperCase()}\t `), p);
});

test('the secret hash is SHA-256 of the secret bytes (base32 decoded)', () => {
  // 20 bytes of "a" (0x61) in base32 (RFC 4648, as `base32` of coreutils prints it, lowercased)
  const secret = Buffer.alloc(20, 'a');
  const b32 = 'mfqwcylbmfqwcylbmfqwcylbmfqwcylb';
  const p = parseCode(`insel-${'a'.repeat(16)}-${b32}-${'a'.repeat(12)}`);
  assert.equal(p.secretHash.toString('hex'), createHash('sha256').update(secret).digest('hex'));
});

test('the pin is the first 60 bits of SHA-256 of the root DER', async () => {
  const r = await root('Acme');
  const digest = createHash('sha256').update(r.der).digest();
  const bits = BigInt(`0x${digest.subarray(0, 8).toString('hex')}`) >> 4n;
  const expect = Array.from({ length: 12 }, (_, i) => 'abcdefghijklmnopqrstuvwxyz234567'[Number((bits >> BigInt(55 - 5 * i)) & 31n)]).join('');
  assert.equal(pinOf(r.der), expect);
});

test('parseCode says what is wrong with a damaged code', async () => {
  const c = newCode((await root('Acme')).der).text;
  malformed('', /does not start with "insel-"/);
  malformed(c.slice(6), /does not start/);
  malformed(c.slice(0, -1), /pin part has 11 characters instead of 12/);
  malformed(c.replace(/-([a-z2-7]+)-/, '-$1'), /2 parts/);
  malformed(`${c}-x`, /4 parts/);
  malformed(`${c.slice(0, 10)}0${c.slice(11)}`, /id part has characters other than/);
  malformed(c + 'x'.repeat(300), /characters long/);
  malformed(undefined as unknown as string, /not text/);
});

test('enrollRefusal gives each reason its code and a message with what to do', () => {
  for (const code of ['INSEL_CODE_UNKNOWN', 'INSEL_CODE_USED', 'INSEL_CODE_EXPIRED', 'INSEL_CODE_SCOPE', 'INSEL_CODE_PIN'] as const) {
    const e = enrollRefusal(code, 'detail here');
    assert.ok(e instanceof EnrollError);
    assert.equal(e.code, code);
    assert.match(e.message, /\(detail here\); .*ask the administrator for a new code/);
  }
});

test('pinMatches: a chain ending at the pinned root; not another root, a broken chain, or a missing root', async () => {
  const org = await root('Acme');
  const other = await root('Acme');
  const leafOf = async (issuer: Signer) =>
    Buffer.from((await createCert({ org: 'Acme', role: 'hq', name: 'hq', groups: [] }, (await newKeyPair()).publicKey, issuer, validity)).rawData);
  const leaf = await leafOf(org);
  const pin = pinOf(org.der);
  assert.ok(pinMatches([leaf, org.der], pin));
  assert.equal(pinnedRoot([leaf, org.der], pin), org.der);
  assert.ok(pinMatches([org.der], pin)); // the root itself
  assert.ok(!pinMatches([leaf], pin), 'no root sent');
  assert.ok(!pinMatches([leaf, other.der], pinOf(other.der)), 'leaf not signed by that root');
  assert.ok(!pinMatches([await leafOf(other), org.der], pin), 'a same-name root with another key signed the leaf');
  assert.ok(!pinMatches([leaf, org.der], pinOf(other.der)), 'another pin');
  assert.ok(!pinMatches([], pin));
  assert.ok(!pinMatches([leaf, leaf, org.der], pin), 'a leaf cannot sign');
  assert.ok(!pinMatches([Buffer.from('junk'), org.der], pin));
});
