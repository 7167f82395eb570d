// readCsr on what a hostile peer may send: random text and bytes, valid CSRs
// truncated, bit-flipped and spliced, inside and outside the PEM armour. It
// must return a key or throw PkiError INSEL_PKI_BAD_CSR, nothing else; a CSR
// that still passes must still carry a P-256 key.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { newKeyPair } from './certgen.js';
import { createCsr, readCsr } from './csr.js';
import { PkiError } from './errors.js';
import { decodeOnePem, encodePem } from './pem.js';

const RUNS = 600;
let valid: Buffer;
let validPem: string;

before(async () => {
  validPem = await createCsr(await newKeyPair(), 'alice');
  valid = decodeOnePem(validPem, 'CERTIFICATE REQUEST', 'test');
});

async function keyOrBadCsr(pem: unknown): Promise<boolean> {
  try {
    const r = await readCsr(pem as string);
    assert.equal(r.publicKey.algorithm.name, 'ECDSA');
    return true;
  } catch (err) {
    if (err instanceof PkiError && err.code === 'INSEL_PKI_BAD_CSR') return false;
    throw err;
  }
}

const armour = (der: Uint8Array) => encodePem(der, 'CERTIFICATE REQUEST');

test('fuzz: random text and bytes give INSEL_PKI_BAD_CSR', async () => {
  await fc.assert(
    fc.asyncProperty(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 300 }), fc.uint8Array({ maxLength: 600 }).map(armour), fc.anything()), async (input) => {
      assert.equal(await keyOrBadCsr(input), false);
    }),
    { numRuns: RUNS },
  );
});

test('fuzz: mutated valid CSRs give a key or INSEL_PKI_BAD_CSR', async () => {
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('splice' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.constantFrom(0x00, 0x7f, 0x80, 0x81, 0x84, 0xff) }),
  );
  let passed = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 3 }), async (ms) => {
      let der = Buffer.from(valid);
      for (const m of ms) {
        const at = m.at % Math.max(1, der.length);
        if (m.kind === 'flip') der[at] = (der[at] ?? 0) ^ (1 << m.bit);
        else if (m.kind === 'set') der[at] = m.value;
        else if (m.kind === 'cut') der = der.subarray(0, at);
        else der = Buffer.concat([der.subarray(0, at), m.bytes, der.subarray(at)]);
      }
      if (await keyOrBadCsr(armour(der))) passed++;
    }),
    { numRuns: RUNS },
  );
  // A flip in the signature's DER padding can leave it valid; almost every mutation must not.
  assert.ok(passed < RUNS / 10, `${passed} of ${RUNS} mutated CSRs passed`);
});

test('fuzz: PEM-level damage to a valid CSR gives a key or INSEL_PKI_BAD_CSR', async () => {
  await fc.assert(
    fc.asyncProperty(fc.nat(), fc.constantFrom('', '-', '=', '\n', '\r\n', 'A', '-----BEGIN X-----\n', '-----END CERTIFICATE REQUEST-----'), fc.boolean(), async (at, ins, cut) => {
      const i = at % validPem.length;
      await keyOrBadCsr(validPem.slice(0, i) + ins + (cut ? '' : validPem.slice(i)));
    }),
    { numRuns: RUNS },
  );
});
