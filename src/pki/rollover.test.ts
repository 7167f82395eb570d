// CA rollover in a PKI directory: old and new roots side by side in ca.crt,
// the newest signing, each root signing its own CRL; real TLS 1.3 between an
// end of the old root and an end of the new; retiring the old root.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { connectTls } from '../tls/connect.js';
import { TlsListener } from '../tls/listen.js';
import { initCa, loadRootSigner } from './ca.js';
import { revoke, rootCrlsPem } from './crl.js';
import { mergeCrls } from './crl-refresh.js';
import { CertError, PkiError } from './errors.js';
import { issueCert } from './issue.js';
import { listCerts } from './list.js';
import { decodePem } from './pem.js';
import { loadProfile, type IdentityPem } from './profile.js';
import { listRoots, retireCa, rolloverCa } from './rollover.js';
import { normalizeSerial } from './serial.js';
import { pkiPaths, readIndex } from './store.js';
import { loadTrust, revocationOf, trustFromPem, type Trust } from './trust.js';
import { verifyCertificateChain, verifyPeer } from './verify.js';

let dir: string;
const paths = () => pkiPaths(dir);
const trustNow = (): Trust => loadTrust({ caFile: paths().caCert, crlFile: paths().crl });
const chain = (name: string) => readFileSync(paths().cert(name), 'utf8');
const verifies = (name: string, trust = trustNow()) => verifyCertificateChain(chain(name), trust, ['user', 'site', 'server', 'hq', 'client']);
const refusedWith = (name: string, code: string, trust = trustNow()) =>
  assert.throws(() => verifies(name, trust), (err: unknown) => err instanceof CertError && err.code === code, `${name} should be refused with ${code}`);

before(async () => {
  dir = join(mkdtempSync(join(tmpdir(), 'insel-rollover-')), 'pki');
  await initCa({ dir, org: 'Test' });
  await issueCert({ dir, role: 'user', name: 'alice' });
  await issueCert({ dir, role: 'server', name: 'srv', hosts: ['127.0.0.1'] });
  await issueCert({ dir, role: 'site', name: 'branch' });
  await issueCert({ dir, role: 'user', name: 'bob', ca: 'branch' });
});
after(() => rmSync(join(dir, '..'), { recursive: true, force: true }));

/** One TLS 1.3 connection; each end's verifyPeer verdict on the other. */
async function connectBoth(server: IdentityPem, client: IdentityPem, serverTrust: Trust, clientTrust: Trust): Promise<{ server: string; client: string }> {
  const l = new TlsListener({ identity: server, unauth: { perSource: 4, total: 8, timeoutMs: 5000 }, onGateClose: () => undefined, onTlsError: () => undefined });
  const seen = new Promise<string>((resolve) =>
    l.server.once('secureConnection', (s) => {
      l.passed(s);
      try {
        resolve(verifyPeer(s, serverTrust, ['user', 'server']).name);
      } catch (err) {
        resolve((err as Error).message);
      } finally {
        s.end();
      }
    }),
  );
  await l.listen(0, '127.0.0.1');
  try {
    const s = await connectTls({ host: '127.0.0.1', port: l.port, identity: client, timeoutMs: 5000 });
    try {
      assert.equal(s.getProtocol(), 'TLSv1.3');
      return { client: verifyPeer(s, clientTrust, ['server', 'user']).name, server: await seen };
    } finally {
      s.destroy();
    }
  } finally {
    await l.close();
  }
}

describe('CA rollover', () => {
  let oldSerial: string;
  let oldProfile: IdentityPem; // alice's profile as handed out before the rollover: ca.pem is the old root alone

  it('a directory never rolled over has one root generation and no roots in its index', () => {
    assert.equal(readIndex(paths()).roots, undefined);
    const [root] = listRoots(dir);
    assert.equal(root?.generation, 1);
    oldSerial = root!.serial;
    oldProfile = loadProfile(dir, 'alice');
  });

  it('creates root 2 beside root 1: files, index, bundle, CRLs', async () => {
    const r = await rolloverCa({ dir });
    assert.equal(r.root.generation, 2);
    assert.deepEqual(r.roots.map((x) => x.generation), [1, 2]);
    const p = paths();
    assert.equal(statSync(p.rootKey(2)).mode & 0o777, 0o600);
    assert.ok(existsSync(p.rootCert(1)) && existsSync(p.rootCert(2)) && existsSync(p.caKey));
    const index = readIndex(p);
    assert.equal(index.rootSerial, r.root.serial);
    assert.equal(index.roots?.[0]?.serial, oldSerial);
    const bundle = trustFromPem(readFileSync(p.caCert, 'utf8'));
    assert.deepEqual(bundle.roots.map((x) => x.cert.subject), ['CN=insel root CA, O=Test', 'CN=insel root CA 2, O=Test']);
    assert.deepEqual(r.crl.crls, [
      { ca: 'root', revoked: 0, generation: 1 },
      { ca: 'root', revoked: 0, generation: 2 },
      { ca: 'branch', revoked: 0 },
    ]);
    assert.equal(normalizeSerial((await loadRootSigner(p)).cert.serialNumber), r.root.serial, 'the newest root signs');
  });

  it('new certificates come from the new root; old and new verify under the bundle', async () => {
    const carol = await issueCert({ dir, role: 'user', name: 'carol' });
    const srv2 = await issueCert({ dir, role: 'server', name: 'srv2', hosts: ['127.0.0.1'] });
    const newSerial = readIndex(paths()).rootSerial;
    assert.equal(carol.record.issuerSerial, newSerial);
    assert.equal(srv2.record.issuerSerial, newSerial);
    for (const name of ['alice', 'srv', 'branch', 'bob', 'carol', 'srv2']) assert.equal(verifies(name).name, name);
  });

  it('TLS 1.3 between an end of the old root and an end of the new works both ways', async () => {
    const trust = trustNow();
    const carol = loadProfile(dir, 'carol');
    const srv = loadProfile(dir, 'srv');
    assert.deepEqual(await connectBoth(srv, carol, trust, trust), { server: 'carol', client: 'srv' });
    assert.deepEqual(await connectBoth(loadProfile(dir, 'srv2'), loadProfile(dir, 'alice'), trust, trust), { server: 'alice', client: 'srv2' });
    // an end that still holds only the old ca.pem keeps working with old-root peers
    const oldTrust = trustFromPem(oldProfile.ca);
    assert.deepEqual(await connectBoth(srv, oldProfile, trust, oldTrust), { server: 'alice', client: 'srv' });
  });

  it('revoking a certificate of the old root puts it on a CRL signed by the old root, which verify honours', async () => {
    // CRL times have whole seconds: a little later, so this CRL is newer than the one alice's profile holds
    const r = await revoke({ dir, nameOrSerial: 'alice', reason: 'keyCompromise', now: new Date(Date.now() + 2000) });
    assert.deepEqual(r.crl.crls.slice(0, 2), [
      { ca: 'root', revoked: 1, generation: 1 },
      { ca: 'root', revoked: 0, generation: 2 },
    ]);
    const trust = trustNow();
    const rootOne = trust.crls.find((c) => c.revoked.has(r.revoked[0]!.serial));
    assert.equal(rootOne?.crl.issuer, 'CN=insel root CA, O=Test');
    refusedWith('alice', 'INSEL_CERT_REVOKED', trust);
    assert.equal(verifies('carol', trust).name, 'carol');
  });

  it('rootCrlsPem signs one CRL per live root from revocations kept elsewhere (HQ registry)', async () => {
    const [, two] = listRoots(dir);
    const pem = await rootCrlsPem({ dir, revoked: [{ serial: 'abc', at: new Date(), reason: 'superseded', issuerSerial: two!.serial }, { serial: 'def', at: new Date(), reason: 'keyCompromise', issuerSerial: 'ffff' }] });
    const trust = trustFromPem(readFileSync(paths().caCert, 'utf8'), pem);
    assert.deepEqual(trust.crls.map((c) => [c.crl.issuer, [...c.revoked.keys()]]), [
      ['CN=insel root CA, O=Test', []],
      ['CN=insel root CA 2, O=Test', ['abc']],
    ]);
    assert.ok(revocationOf(trust, trust.roots[1]!, 'abc') && !revocationOf(trust, trust.roots[0]!, 'abc'));
  });

  it('a client holding the old ca.pem takes the old root CRL from the new bundle and skips the new root one', () => {
    const oldTrust = trustFromPem(oldProfile.ca, oldProfile.crl);
    const merged = mergeCrls(oldTrust, oldProfile.crl, readFileSync(paths().crl, 'utf8'), 'gw');
    assert.ok(merged.updated.includes('CN=insel root CA, O=Test'));
    assert.ok(!merged.updated.includes('CN=insel root CA 2, O=Test'));
    assert.throws(() => verifyCertificateChain(chain('alice'), trustFromPem(oldProfile.ca, merged.pem), ['user']), (e: unknown) => e instanceof CertError && e.code === 'INSEL_CERT_REVOKED');
  });

  it('refuses to retire the newest root, an unknown one, or with no selector', async () => {
    await assert.rejects(retireCa({ dir, generation: 2 }), (e: unknown) => e instanceof UsageError && /is the newest/.test(e.message));
    await assert.rejects(retireCa({ dir, generation: 7 }), (e: unknown) => e instanceof PkiError && e.code === 'INSEL_PKI_NOT_FOUND' && /its roots: 1 \(serial/.test(e.message));
    await assert.rejects(retireCa({ dir }), (e: unknown) => e instanceof PkiError && e.code === 'INSEL_PKI_NOT_FOUND');
  });

  it('retiring the old root drops it from ca.crt and crl.pem; its certificates are then refused as unknown CA', async () => {
    const r = await retireCa({ dir, serial: oldSerial.toUpperCase() });
    assert.equal(r.root.generation, 1);
    assert.deepEqual(r.refused.map((c) => c.name).sort(), ['bob', 'branch', 'srv'], 'alice is revoked already');
    assert.equal(decodePem(readFileSync(paths().caCert, 'utf8'), 'CERTIFICATE', 'ca.crt').length, 1);
    assert.deepEqual(r.crl.crls.map((c) => `${c.ca}${c.generation ?? ''}`), ['root2', 'branch']);
    assert.ok(listRoots(dir)[0]?.retired);
    const rows = new Map(listCerts({ dir }).map((c) => [c.name, c]));
    assert.deepEqual([rows.get('srv')?.status, rows.get('bob')?.status, rows.get('carol')?.status, rows.get('alice')?.status], ['retired', 'retired', 'valid', 'revoked']);
    assert.equal(rows.get('bob')?.note, 'root CA 1 is retired');
    const trust = trustNow();
    for (const name of ['srv', 'branch', 'bob']) refusedWith(name, 'INSEL_CERT_UNKNOWN_CA', trust);
    assert.equal(verifies('carol', trust).name, 'carol');
    await assert.rejects(retireCa({ dir, generation: 1 }), (e: unknown) => e instanceof UsageError && /retired on/.test(e.message));
  });

  it('TLS with an old-root end after the retirement is refused as unknown CA', async () => {
    const trust = trustNow();
    const verdict = await connectBoth(loadProfile(dir, 'srv2'), loadProfile(dir, 'srv'), trust, trust);
    assert.match(verdict.server, /not a trusted CA/);
  });

  it('rolls over again: generation 3, and retiring by generation works', async () => {
    const r = await rolloverCa({ dir });
    assert.equal(r.root.generation, 3);
    assert.equal(decodePem(readFileSync(paths().caCert, 'utf8'), 'CERTIFICATE', 'ca.crt').length, 2, 'roots 2 and 3');
    await issueCert({ dir, role: 'user', name: 'dave' });
    assert.equal(verifies('dave').name, 'dave');
    assert.equal(verifies('carol').name, 'carol');
    await retireCa({ dir, generation: 2 });
    refusedWith('carol', 'INSEL_CERT_UNKNOWN_CA');
    assert.equal(verifies('dave').name, 'dave');
  });

  it('an interrupted rollover (files of the next generation without an index entry) is refused with what to do', async () => {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(paths().rootCert(4), 'partial');
    await assert.rejects(rolloverCa({ dir }), (e: unknown) => e instanceof PkiError && e.code === 'INSEL_PKI_EXISTS' && /interrupted; remove/.test(e.message));
    rmSync(paths().rootCert(4));
  });
});
