import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from './errors.js';
import { identityFiles, profileFiles, readIdentityFiles } from './identity.js';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'insel-identity-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('readIdentityFiles reads PEM and names a missing or non-PEM file', (t) => {
  const dir = tempDir(t);
  const CERT = '-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n';
  const KEY = '-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n';
  const CRL = '-----BEGIN X509 CRL-----\nAA==\n-----END X509 CRL-----\n';
  writeFileSync(join(dir, 'cert.pem'), CERT);
  writeFileSync(join(dir, 'key.pem'), KEY);
  writeFileSync(join(dir, 'ca.pem'), CERT);
  assert.deepEqual(readIdentityFiles(profileFiles(dir)), { cert: CERT, key: KEY, ca: CERT });
  writeFileSync(join(dir, 'crl.pem'), CRL);
  assert.deepEqual(readIdentityFiles(profileFiles(dir)), { cert: CERT, key: KEY, ca: CERT, crl: CRL });

  const files = { ...profileFiles(dir), keyFile: join(dir, 'missing.key') };
  assert.throws(() => readIdentityFiles(files, '--profile ' + dir), (err: unknown) => {
    assert.ok(err instanceof ConfigError && err.code === 'INSEL_CONFIG');
    assert.equal(err.message, `--profile ${dir}: cannot read the private key ${join(dir, 'missing.key')}: no such file`);
    assert.equal(err.file, join(dir, 'missing.key'));
    return true;
  });
  assert.throws(() => readIdentityFiles({ ...profileFiles(dir), caFile: join(dir, 'key.pem') }), /identity: .*key\.pem is not a PEM CA certificate/);
  assert.throws(() => readIdentityFiles({ ...profileFiles(dir), certFile: dir }), /cannot read the certificate .*: it is a directory/);
});

test('identityFiles: a profile or cert/key/ca[/crl], resolved against a directory; never both, nothing missing', () => {
  assert.deepEqual(identityFiles({ cert: 'c.pem', key: '/k.pem', ca: 'ca.pem', crl: 'crl.pem' }, '/etc/insel'), {
    certFile: '/etc/insel/c.pem',
    keyFile: '/k.pem',
    caFile: '/etc/insel/ca.pem',
    crlFile: '/etc/insel/crl.pem',
  });
  assert.equal((identityFiles({ profile: 'p' }, '/etc/insel') as { certFile: string }).certFile, '/etc/insel/p/cert.pem');
  assert.deepEqual(identityFiles({ profile: 'p', crl: 'x' }, '/'), { both: 'crl' });
  assert.deepEqual(identityFiles({ cert: 'c', ca: 'a' }, '/'), { missing: 'key' });
  assert.deepEqual(identityFiles({}, '/'), { missing: 'cert' });
});
