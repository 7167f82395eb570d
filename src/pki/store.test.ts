// The PKI directory: init, issue, revoke, CRLs, list, profiles; file modes;
// nothing overwritten without force; site CAs and their renewal.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { initCa } from './ca.js';
import { revoke, writeCrl } from './crl.js';
import { PkiError } from './errors.js';
import { issueCert } from './issue.js';
import { listCerts } from './list.js';
import { loadProfile } from './profile.js';
import { pkiPaths, readIndex } from './store.js';
import { loadTrust, trustFromPem } from './trust.js';
import { verifyCertificateChain } from './verify.js';
import { ROLES } from './identity.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'insel-store-'));
  dirs.push(d);
  return join(d, 'pki'); // not yet existing: init creates it
}
async function newPki(): Promise<string> {
  const dir = tempDir();
  await initCa({ dir, org: 'Test' });
  return dir;
}
const mode = (f: string) => statSync(f).mode & 0o777;
const pkiError = (code: string, text: RegExp) => (e: unknown) => e instanceof PkiError && e.code === code && text.test(e.message);
const trustOf = (dir: string) => loadTrust({ caFile: pkiPaths(dir).caCert, crlFile: pkiPaths(dir).crl });

describe('initCa', () => {
  it('creates the CA files with safe modes', async () => {
    const dir = tempDir();
    const r = await initCa({ dir, org: 'Test Org', days: 30 });
    const p = pkiPaths(dir);
    assert.equal(mode(p.caKey), 0o600);
    assert.equal(mode(p.privateDir), 0o700);
    assert.equal(mode(p.caCert), 0o644);
    assert.match(readFileSync(p.caKey, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
    const t = trustFromPem(readFileSync(p.caCert, 'utf8'), readFileSync(p.crl, 'utf8'));
    assert.equal(t.roots[0]!.org, 'Test Org');
    assert.equal(t.crls.length, 1);
    assert.deepEqual(readIndex(p), { version: 1, org: 'Test Org', rootSerial: r.serial, certs: [] });
    assert.ok(Math.abs(r.notAfter.getTime() - Date.now() - 30 * 86400e3) < 60e3);
    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
  });

  it('does not overwrite without force', async () => {
    const dir = await newPki();
    const p = pkiPaths(dir);
    const before = readFileSync(p.caKey, 'utf8');
    await assert.rejects(initCa({ dir, org: 'Test' }), pkiError('INSEL_PKI_EXISTS', /ca\.key already exists; pass --force/));
    assert.equal(readFileSync(p.caKey, 'utf8'), before);
    await initCa({ dir, org: 'Test', force: true });
    assert.notEqual(readFileSync(p.caKey, 'utf8'), before);
    assert.equal(mode(p.caKey), 0o600);
  });

  it('refuses a bad org or days', async () => {
    await assert.rejects(initCa({ dir: tempDir(), org: 'a\nb' }), UsageError);
    await assert.rejects(initCa({ dir: tempDir(), org: 'T', days: 0 }), /days 0 is not valid/);
  });
});

describe('issueCert', () => {
  it('writes certificate and key (0600) and records it', async () => {
    const dir = await newPki();
    const r = await issueCert({ dir, role: 'user', name: 'alice', groups: ['ops', 'db', 'ops'], site: 'hq1', days: 10 });
    assert.equal(mode(r.keyFile), 0o600);
    assert.equal(mode(r.certFile), 0o644);
    assert.deepEqual(r.record.groups, ['ops', 'db']);
    assert.equal(r.record.issuer, 'root');
    assert.deepEqual(readIndex(pkiPaths(dir)).certs, [r.record]);
    const id = verifyCertificateChain(readFileSync(r.certFile, 'utf8'), trustOf(dir), ROLES);
    assert.deepEqual(id, { org: 'Test', role: 'user', name: 'alice', site: 'hq1', groups: ['ops', 'db'], serial: r.record.serial });
    const prof = loadProfile(dir, 'alice');
    assert.match(prof.key, /PRIVATE KEY/);
    assert.ok(prof.crl);
  });

  it('does not overwrite without force; with force the old one is reported', async () => {
    const dir = await newPki();
    const first = await issueCert({ dir, role: 'server', name: 'srv' });
    const key = readFileSync(first.keyFile, 'utf8');
    await assert.rejects(issueCert({ dir, role: 'server', name: 'srv' }), pkiError('INSEL_PKI_EXISTS', /certs\/srv\.crt already exists; pass --force/));
    rmSync(first.certFile);
    rmSync(first.keyFile);
    await assert.rejects(issueCert({ dir, role: 'server', name: 'srv' }), pkiError('INSEL_PKI_EXISTS', /index\.json already lists a valid certificate named srv .*--force/));
    const second = await issueCert({ dir, role: 'server', name: 'srv', force: true });
    assert.equal(second.previous?.serial, first.record.serial);
    assert.notEqual(readFileSync(second.keyFile, 'utf8'), key);
    assert.equal(mode(second.keyFile), 0o600);
    await assert.rejects(issueCert({ dir, role: 'user', name: 'srv', force: true }), /srv already has a valid server certificate .* revoke it first/);
  });

  it('refuses what a site CA may not issue, and unknown CAs', async () => {
    const dir = await newPki();
    await issueCert({ dir, role: 'site', name: 'branch' });
    await assert.rejects(issueCert({ dir, role: 'server', name: 's', ca: 'branch' }), (e: unknown) => e instanceof UsageError && /site CA may only issue user and client certificates, not server/.test(e.message));
    await assert.rejects(issueCert({ dir, role: 'site', name: 's2', ca: 'branch' }), UsageError);
    await assert.rejects(issueCert({ dir, role: 'user', name: 'u', ca: 'branch', site: 'other' }), /--site other conflicts with --ca branch/);
    await assert.rejects(issueCert({ dir, role: 'user', name: 'u', ca: 'nowhere' }), pkiError('INSEL_PKI_NOT_FOUND', /no site CA named nowhere/));
    await assert.rejects(issueCert({ dir, role: 'site', name: 'x', site: 'y' }), /site certificate's site is its own name/);
    await assert.rejects(issueCert({ dir, role: 'admin', name: 'x' }), /role "admin" is unknown/);
    await assert.rejects(issueCert({ dir, role: 'user', name: '../x' }), /name "..\/x" is not a valid name/);
    await assert.rejects(issueCert({ dir: tempDir(), role: 'user', name: 'x' }), pkiError('INSEL_PKI_NOT_FOUND', /index\.json does not exist.*insel pki init/));
  });

  it('a site CA signs users of its site; the chain verifies offline', async () => {
    const dir = await newPki();
    const site = await issueCert({ dir, role: 'site', name: 'branch' });
    assert.equal(site.record.site, 'branch');
    const bob = await issueCert({ dir, role: 'user', name: 'bob', ca: 'branch', days: 5000 });
    assert.equal(bob.record.issuer, 'branch');
    assert.equal(bob.record.issuerSerial, site.record.serial);
    assert.equal(bob.record.notAfter, site.record.notAfter, 'clamped to the site CA');
    const chain = readFileSync(bob.certFile, 'utf8');
    assert.equal(chain.match(/BEGIN CERTIFICATE/g)?.length, 2);
    const id = verifyCertificateChain(chain, trustOf(dir), ['user']);
    assert.equal(id.site, 'branch');
    const carol = await issueCert({ dir, role: 'client', name: 'carol', ca: 'branch' });
    assert.equal(verifyCertificateChain(readFileSync(carol.certFile, 'utf8'), trustOf(dir), ['client']).site, 'branch');
  });

  it('renewing a live site keeps its key, so its certificates stay valid; a revoked one gets a new key', async () => {
    const dir = await newPki();
    const p = pkiPaths(dir);
    await issueCert({ dir, role: 'site', name: 'branch' });
    await issueCert({ dir, role: 'user', name: 'bob', ca: 'branch' });
    const key = readFileSync(p.key('branch'), 'utf8');
    const renewed = await issueCert({ dir, role: 'site', name: 'branch', force: true });
    assert.equal(renewed.keptKey, true);
    assert.equal(readFileSync(p.key('branch'), 'utf8'), key);
    // bob's chain still carries the old site certificate; revoking bob is still signed by the same key
    await revoke({ dir, nameOrSerial: 'bob' });
    assert.throws(() => verifyCertificateChain(readFileSync(p.cert('bob'), 'utf8'), trustOf(dir), ['user']), /revoked/);

    await revoke({ dir, nameOrSerial: 'branch' });
    const fresh = await issueCert({ dir, role: 'site', name: 'branch', force: true });
    assert.equal(fresh.keptKey, false);
    assert.notEqual(readFileSync(p.key('branch'), 'utf8'), key);
  });
});

describe('revoke, CRL and list', () => {
  it('revokes by name or serial into the issuing CA\'s CRL', async () => {
    const dir = await newPki();
    const alice = await issueCert({ dir, role: 'user', name: 'alice' });
    await issueCert({ dir, role: 'site', name: 'branch' });
    const bob = await issueCert({ dir, role: 'user', name: 'bob', ca: 'branch' });
    await issueCert({ dir, role: 'server', name: 'srv' });

    const r = await revoke({ dir, nameOrSerial: 'alice', reason: 'keyCompromise' });
    assert.deepEqual(r.revoked.map((c) => c.serial), [alice.record.serial]);
    assert.deepEqual(r.crl.crls, [{ ca: 'root', revoked: 1 }, { ca: 'branch', revoked: 0 }]);
    // by serial, with leading zeros and upper case
    const r2 = await revoke({ dir, nameOrSerial: `00${bob.record.serial.toUpperCase()}` });
    assert.equal(r2.revoked[0]?.name, 'bob');
    assert.deepEqual(r2.crl.crls, [{ ca: 'root', revoked: 1 }, { ca: 'branch', revoked: 1 }]);

    const t = trustOf(dir);
    const [rootCrl, siteCrl] = t.crls;
    assert.equal(rootCrl!.revoked.get(alice.record.serial)?.reason, 'keyCompromise');
    assert.ok(siteCrl!.revoked.has(bob.record.serial));
    assert.ok(!rootCrl!.revoked.has(bob.record.serial), 'a site\'s certificates go into the site\'s CRL');

    const again = await revoke({ dir, nameOrSerial: 'alice' });
    assert.deepEqual(again.revoked, []);
    assert.equal(again.already.length, 1);
    await assert.rejects(revoke({ dir, nameOrSerial: 'nobody' }), pkiError('INSEL_PKI_NOT_FOUND', /no certificate named or with serial "nobody"/));
    await assert.rejects(revoke({ dir, nameOrSerial: 'srv', reason: 'because' }), /reason "because" is unknown: use one of unspecified, keyCompromise/);
  });

  it('revoking a site CA refuses its certificates too', async () => {
    const dir = await newPki();
    await issueCert({ dir, role: 'site', name: 'branch' });
    await issueCert({ dir, role: 'user', name: 'bob', ca: 'branch' });
    const r = await revoke({ dir, nameOrSerial: 'branch' });
    assert.deepEqual(r.dependents.map((c) => c.name), ['bob']);
    assert.deepEqual(r.crl.crls, [{ ca: 'root', revoked: 1 }], 'a dead site CA gets no CRL');
    const rows = listCerts({ dir });
    assert.deepEqual(rows.map((x) => [x.name, x.status, x.note]), [['branch', 'revoked', undefined], ['bob', 'revoked', 'site CA branch is revoked']]);
    assert.throws(() => verifyCertificateChain(readFileSync(pkiPaths(dir).cert('bob'), 'utf8'), trustOf(dir), ['user']), /site CA branch, which is revoked/);
  });

  it('lists valid, revoked and expired certificates', async () => {
    const dir = await newPki();
    await issueCert({ dir, role: 'hq', name: 'hq', groups: ['g'] });
    await issueCert({ dir, role: 'user', name: 'mallory' });
    await issueCert({ dir, role: 'user', name: 'old', notBefore: new Date(Date.now() - 10 * 86400e3), notAfter: new Date(Date.now() - 86400e3) });
    await revoke({ dir, nameOrSerial: 'mallory' });
    const rows = listCerts({ dir });
    assert.deepEqual(rows.map((r) => [r.name, r.role, r.status]), [['hq', 'hq', 'valid'], ['mallory', 'user', 'revoked'], ['old', 'user', 'expired']]);
    assert.equal(rows[1]!.revoked?.reason, 'unspecified');
    assert.deepEqual(rows[0]!.groups, ['g']);
  });

  it('writeCrl re-signs, and notes a site CA it cannot sign for', async () => {
    const dir = await newPki();
    await issueCert({ dir, role: 'site', name: 'branch' });
    const before = readFileSync(pkiPaths(dir).crl, 'utf8');
    const r = await writeCrl({ dir });
    assert.deepEqual(r.crls.map((c) => c.ca), ['root', 'branch']);
    assert.notEqual(readFileSync(pkiPaths(dir).crl, 'utf8'), before);
    rmSync(pkiPaths(dir).key('branch'));
    const r2 = await writeCrl({ dir });
    assert.deepEqual(r2.skipped.map((s) => s.site), ['branch']);
    assert.match(r2.skipped[0]!.why, /missing/);
  });
});

describe('loadProfile', () => {
  it('names what is missing or does not match', async () => {
    const dir = await newPki();
    assert.throws(() => loadProfile(dir, 'ghost'), pkiError('INSEL_PKI_NOT_FOUND', /certs\/ghost\.crt does not exist; issue it with insel pki issue/));
    await issueCert({ dir, role: 'user', name: 'a' });
    await issueCert({ dir, role: 'user', name: 'b' });
    const p = pkiPaths(dir);
    writeFileSync(p.key('a'), readFileSync(p.key('b')));
    assert.throws(() => loadProfile(dir, 'a'), pkiError('INSEL_PKI_BAD_FILE', /private\/a\.key does not belong to the certificate/));
    writeFileSync(p.index, '{"version":1');
    await assert.rejects(issueCert({ dir, role: 'user', name: 'c' }), pkiError('INSEL_PKI_BAD_FILE', /index\.json is not valid JSON/));
    writeFileSync(p.index, '{"version":2,"org":"x","rootSerial":"1","certs":[]}');
    assert.throws(() => listCerts({ dir }), pkiError('INSEL_PKI_BAD_FILE', /index\.json: version/));
    assert.ok(existsSync(p.caKey));
  });
});
