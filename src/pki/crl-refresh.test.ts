// mergeCrls: per issuer the newer CRL wins, nothing held is dropped, and a
// site CRL counts only with a site CA certificate the root signed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readCertFile } from './ca.js';
import { certPem, createCrl, crlPem, keyPairFromPem } from './certgen.js';
import { revoke, writeCrl } from './crl.js';
import { mergeCrls } from './crl-refresh.js';
import { PkiError } from './errors.js';
import { pkiPaths } from './store.js';
import { makeTestPki, type TestPki } from './testing.js';
import { trustFromPem } from './trust.js';

let pki: TestPki;
let older: string;
let newer: string;
let bobSerial: string;
before(async () => {
  pki = await makeTestPki();
  await writeCrl({ dir: pki.dir, now: new Date(Date.now() - 60_000) });
  older = readFileSync(join(pki.dir, 'crl.pem'), 'utf8');
  bobSerial = (await revoke({ dir: pki.dir, nameOrSerial: 'bob' })).revoked[0]!.serial;
  newer = readFileSync(join(pki.dir, 'crl.pem'), 'utf8');
});
after(() => pki.cleanup());

const trustWith = (crl: string) => trustFromPem(pki.trust.caPem, crl);
const siteCrlRevokes = (pem: string, serial: string) => trustWith(pem).crls.some((c) => c.revoked.has(serial));

test('a newer bundle replaces root and site CRLs; its site CA certificate travels with the site CRL', () => {
  const m = mergeCrls(trustWith(older), older, newer, 'gw');
  assert.equal(m.updated.length, 2);
  assert.ok(siteCrlRevokes(m.pem, bobSerial));
  assert.match(m.pem, /BEGIN CERTIFICATE[^]*BEGIN X509 CRL/);
  assert.deepEqual(mergeCrls(trustWith(m.pem), m.pem, newer, 'gw').updated, [], 'nothing newer the second time');
});

test('an older bundle changes nothing (no rollback), and a CRL left out is kept', () => {
  assert.deepEqual(mergeCrls(trustWith(newer), newer, older, 'gw').updated, []);
  const rootOnly = newer.slice(0, newer.indexOf('-----END X509 CRL-----') + '-----END X509 CRL-----\n'.length);
  const m = mergeCrls(trustWith(older), older, rootOnly, 'gw');
  assert.equal(m.updated.length, 1);
  assert.equal(trustWith(m.pem).crls.length, 2, 'the held site CRL is still there');
});

test('a site CRL without the site CA certificate that signed it is refused', () => {
  const bare = newer.replace(/-----BEGIN CERTIFICATE-----[^-]*-----END CERTIFICATE-----\n/g, '');
  assert.throws(() => mergeCrls(trustWith(older), older, bare, 'gateway gw:1'), (err: unknown) => {
    assert.ok(err instanceof PkiError && err.code === 'INSEL_CRL_UNTRUSTED', String(err));
    assert.match(err.message, /CRL 2 from gateway gw:1 \(issuer .*branch.*\) is signed neither by our root CA nor by a site CA it certified/);
    return true;
  });
});

test('a revoked site CA cannot replace its CRL, even with its own key', async () => {
  await revoke({ dir: pki.dir, nameOrSerial: 'branch', now: new Date(Date.now() + 2000) });
  const rootCrl = readFileSync(join(pki.dir, 'crl.pem'), 'utf8'); // the root's CRL, now listing branch; no CRL of branch
  const paths = pkiPaths(pki.dir);
  const { cert } = readCertFile(paths.cert('branch'), 'branch', '');
  const { privateKey } = await keyPairFromPem(readFileSync(paths.key('branch'), 'utf8'), paths.key('branch'));
  const empty = await createCrl({ cert, privateKey }, [], { thisUpdate: new Date(Date.now() + 5000), nextUpdate: new Date(Date.now() + 86_400_000) });
  const forged = rootCrl + certPem(cert) + crlPem(empty);
  assert.throws(() => mergeCrls(trustWith(newer), newer, forged, 'gw'), (err: unknown) => err instanceof PkiError && err.code === 'INSEL_CRL_UNTRUSTED');
});
