// Loading what an end trusts: good files parse, bad ones are refused with a
// PkiError naming the source, and nothing else ever escapes (fuzzed).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { PkiError } from './errors.js';
import { decodePem, encodePem } from './pem.js';
import { makeTestPki, type TestPki } from './testing.js';
import { loadTrust, trustFromPem } from './trust.js';

let pki: TestPki;
before(async () => {
  pki = await makeTestPki();
});
after(() => pki.cleanup());

const badFile = (source: string, text: RegExp) => (e: unknown) =>
  e instanceof PkiError && e.code === 'INSEL_PKI_BAD_FILE' && e.message.startsWith(`${source}: `) && text.test(e.message);

describe('trustFromPem', () => {
  it('parses the root and one CRL per live CA', () => {
    const p = pki.profile('srv');
    const t = trustFromPem(p.ca, p.crl);
    assert.equal(t.roots.length, 1);
    assert.equal(t.roots[0]!.org, 'Test');
    assert.equal(t.crls.length, 2, 'root and site branch');
    assert.match(t.caPem, /^-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n$/);
    assert.equal(t.crls.reduce((n, c) => n + c.revoked.size, 0), 1, 'mallory');
  });

  it('accepts no CRL, and ignores text around PEM blocks', () => {
    const p = pki.profile('srv');
    const t = trustFromPem(`# our root\n${p.ca}\ntrailing words\n`);
    assert.equal(t.crls.length, 0);
    assert.equal(t.sources.crl, undefined);
  });

  it('refuses malformed input, naming the source', () => {
    const p = pki.profile('srv');
    const src = { ca: 'my-ca.crt', crl: 'my-crl.pem' };
    assert.throws(() => trustFromPem('', undefined, src), badFile('my-ca.crt', /no CERTIFICATE PEM block/));
    assert.throws(() => trustFromPem(p.cert, undefined, src), badFile('my-ca.crt', /not a self-signed CA certificate/));
    assert.throws(() => trustFromPem(encodePem(Buffer.from('not DER'), 'CERTIFICATE'), undefined, src), badFile('my-ca.crt', /certificate 1 cannot be parsed/));
    assert.throws(() => trustFromPem('-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n', undefined, src), badFile('my-ca.crt', /not valid base64/));
    assert.throws(() => trustFromPem(p.ca, 'garbage', src), badFile('my-crl.pem', /no X509 CRL PEM block/));
    assert.throws(() => trustFromPem(p.ca, encodePem(Buffer.from([0x30, 0x03, 1, 2, 3]), 'X509 CRL'), src), badFile('my-crl.pem', /CRL 1 cannot be parsed/));
    assert.throws(() => trustFromPem(p.ca, p.ca, src), badFile('my-crl.pem', /no X509 CRL/));
    // the default source names say which option it was
    assert.throws(() => trustFromPem('x'), badFile('CA certificate (identity.ca)', /no CERTIFICATE/));
  });

  it('loadTrust names a missing file', () => {
    const missing = join(pki.dir, 'nope.crt');
    assert.throws(() => loadTrust({ caFile: missing }), (e: unknown) => e instanceof PkiError && e.code === 'INSEL_PKI_NOT_FOUND' && e.file === missing && e.message.includes(missing));
    assert.throws(() => loadTrust({ caFile: join(pki.dir, 'ca.crt'), crlFile: missing }), (e: unknown) => e instanceof PkiError && e.code === 'INSEL_PKI_NOT_FOUND' && e.file === missing);
    const bad = join(pki.dir, 'bad.crt');
    writeFileSync(bad, 'nonsense');
    assert.throws(() => loadTrust({ caFile: bad }), badFile(bad, /no CERTIFICATE/));
  });

  it('yields a Trust or a PkiError on random and bit-flipped PEM (property)', () => {
    const p = pki.profile('srv');
    const caDer = decodePem(p.ca, 'CERTIFICATE', 'ca')[0]!;
    const crlDers = decodePem(p.crl, 'X509 CRL', 'crl');
    const flip = (der: Buffer, bits: number[]) => {
      const copy = Buffer.from(der);
      for (const b of bits) copy[(b >> 3) % copy.length]! ^= 1 << (b & 7);
      return copy;
    };
    const bitsArb = fc.array(fc.nat(), { minLength: 1, maxLength: 3 });
    const input = fc.oneof(
      fc.tuple(fc.string({ unit: 'binary' }), fc.option(fc.string({ unit: 'binary' }), { nil: undefined })),
      bitsArb.map((bits) => [encodePem(flip(caDer, bits), 'CERTIFICATE'), p.crl] as const),
      bitsArb.map((bits) => [p.ca, crlDers.map((d, i) => encodePem(i === 0 ? flip(d, bits) : d, 'X509 CRL')).join('')] as const),
      fc.tuple(fc.uint8Array({ maxLength: 600 }), fc.constantFrom('CERTIFICATE', 'X509 CRL')).map(([bytes, label]) =>
        label === 'CERTIFICATE' ? ([encodePem(bytes, label), undefined] as const) : ([p.ca, encodePem(bytes, label)] as const),
      ),
      fc.nat().map((n) => [p.ca.slice(0, n % p.ca.length), p.crl.slice(0, n % p.crl.length)] as const),
    );
    fc.assert(
      fc.property(input, ([ca, crl]) => {
        try {
          trustFromPem(ca, crl);
        } catch (e) {
          assert.ok(e instanceof PkiError && e.code === 'INSEL_PKI_BAD_FILE', `unexpected ${String(e)}`);
        }
      }),
      { numRuns: 700 },
    );
  });
});
