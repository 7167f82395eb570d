// CSRs: the round trip (key stays with the requester, identity from the CA's
// caller), and each kind of refusal readCsr promises.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { certPem, createRootCert, newKeyPair, type Signer } from './certgen.js';
import { createCsr, MAX_CSR_TEXT, readCsr, signFromCsr } from './csr.js';
import { PkiError } from './errors.js';
import { decodeOnePem, encodePem } from './pem.js';
import { trustFromPem } from './trust.js';
import { verifyCertificateChain } from './verify.js';
import { x509 } from './x509.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const now = new Date();
const validity = { notBefore: new Date(now.getTime() - 60_000), notAfter: new Date(now.getTime() + 30 * DAY_MS) };

async function rootSigner(): Promise<Signer> {
  const keys = await newKeyPair();
  const cert = await createRootCert('Acme', keys, { notBefore: validity.notBefore, notAfter: new Date(now.getTime() + 365 * DAY_MS) });
  return { cert, privateKey: keys.privateKey };
}

async function refused(pem: string, text: RegExp): Promise<void> {
  await assert.rejects(readCsr(pem), (err: unknown) => {
    assert.ok(err instanceof PkiError, String(err));
    assert.equal(err.code, 'INSEL_PKI_BAD_CSR');
    assert.match(err.message, text);
    return true;
  });
}

test('a CSR round trip: the certificate has the requester key and the identity the caller gives, not the CSR subject', async () => {
  const root = await rootSigner();
  const keys = await newKeyPair();
  const csr = await createCsr(keys, 'admin');
  assert.match(csr, /^-----BEGIN CERTIFICATE REQUEST-----\n/);
  const read = await readCsr(csr);
  const spki = Buffer.from(await crypto.subtle.exportKey('spki', keys.publicKey));
  assert.ok(read.spki.equals(spki));

  const cert = await signFromCsr(root, csr, { org: 'Acme', role: 'user', name: 'alice', site: 'branch', groups: ['eng'] }, validity);
  assert.ok(Buffer.from(cert.publicKey.rawData).equals(spki));
  assert.equal(cert.subjectName.getField('CN')[0], 'alice');
  const id = verifyCertificateChain(certPem(cert), trustFromPem(certPem(root.cert)), ['user']);
  assert.deepEqual({ ...id, serial: '' }, { org: 'Acme', role: 'user', name: 'alice', site: 'branch', groups: ['eng'], serial: '' });
});

test('signFromCsr cuts the validity at the signer notAfter', async () => {
  const root = await rootSigner();
  const csr = await createCsr(await newKeyPair(), 'x');
  const cert = await signFromCsr(root, csr, { org: 'Acme', role: 'site', name: 'branch', site: 'branch', groups: [] }, { ...validity, notAfter: new Date(now.getTime() + 9999 * DAY_MS) });
  assert.equal(cert.notAfter.getTime(), root.cert.notAfter.getTime());
});

test('readCsr refuses oversized text, other PEM blocks, not-one blocks and bad base64', async () => {
  const csr = await createCsr(await newKeyPair(), 'x');
  await refused(csr + ' '.repeat(MAX_CSR_TEXT), /more than the 16384 allowed/);
  await refused(csr + csr, /exactly one CERTIFICATE REQUEST PEM block/);
  await refused('', /exactly one/);
  await refused(csr.replace(/REQUEST/g, 'REQUESTX'), /exactly one/);
  await refused(csr + encodePem(new Uint8Array([1, 2, 3]), 'CERTIFICATE'), /exactly one/);
  await refused(csr.replace(/\n[A-Za-z0-9+/]{10}/, '\n!!!!!!!!!!'), /not valid PEM/);
  await refused(42 as unknown as string, /not text/);
});

test('readCsr refuses malformed DER', async () => {
  await refused(encodePem(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]), 'CERTIFICATE REQUEST'), /not a well-formed PKCS#10/);
  await refused(encodePem(new Uint8Array(0), 'CERTIFICATE REQUEST'), /not a well-formed|exactly one/);
  const der = decodeOnePem(await createCsr(await newKeyPair(), 'x'), 'CERTIFICATE REQUEST', 't');
  await refused(encodePem(der.subarray(0, der.length - 5), 'CERTIFICATE REQUEST'), /PKCS#10|signature|not signed/);
});

test('readCsr refuses other key kinds: P-384, RSA', async () => {
  const p384 = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const csr384 = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=x', keys: p384, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' } });
  await refused(csr384.toString('pem'), /key of type ec \(secp384r1\), but insel certificates are for ECDSA P-256 keys only/);
  const rsaAlg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 };
  const rsa = (await crypto.subtle.generateKey(rsaAlg, true, ['sign', 'verify'])) as CryptoKeyPair;
  const csrRsa = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=x', keys: rsa, signingAlgorithm: rsaAlg });
  await refused(csrRsa.toString('pem'), /key of type rsa,/);
});

test('readCsr refuses a CSR whose signature does not verify (altered after signing)', async () => {
  const csr = await createCsr(await newKeyPair(), 'alice');
  const der = decodeOnePem(csr, 'CERTIFICATE REQUEST', 't');
  const at = der.indexOf(Buffer.from('alice'));
  der[at] = 'm'.charCodeAt(0);
  await refused(encodePem(der, 'CERTIFICATE REQUEST'), /not signed by its own key/);
});
