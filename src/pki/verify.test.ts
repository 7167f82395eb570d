// verifyCertificateChain: every refusal with its code and a message that
// names the reason, including certificates a site CA must not issue (forged
// here with the site's real key) and CRLs not signed by the issuer.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { initCa, loadRootSigner, loadSiteSigner } from './ca.js';
import { certPem, createCert, createCrl, crlPem, newKeyPair, type Signer } from './certgen.js';
import { CertError, type CertErrorCode } from './errors.js';
import { GRANTS_OID } from './grants.js';
import { encodeIdentityUri, ROLES, type Identity } from './identity.js';
import { issueCert } from './issue.js';
import { revoke } from './crl.js';
import { pkiPaths, readIndex } from './store.js';
import { makeTestPki, type TestPki } from './testing.js';
import { loadTrust, trustFromPem } from './trust.js';
import { verifyCertificateChain } from './verify.js';
import { x509 } from './x509.js';

let pki: TestPki;
let root: Signer;
let branch: Signer;
before(async () => {
  pki = await makeTestPki();
  const paths = pkiPaths(pki.dir);
  root = await loadRootSigner(paths);
  branch = (await loadSiteSigner(paths, readIndex(paths), 'branch', new Date())).signer;
});
after(() => pki.cleanup());

const DAY = 86400e3;
const soon = () => ({ notBefore: new Date(Date.now() - 60e3), notAfter: new Date(Date.now() + DAY) });

function refused(chain: string, code: CertErrorCode, text: RegExp, roles = ROLES, trust = pki.trust): void {
  assert.throws(
    () => verifyCertificateChain(chain, trust, roles),
    (e: unknown) => {
      assert.ok(e instanceof CertError, `not a CertError: ${String(e)}`);
      assert.equal(e.code, code, e.message);
      assert.match(e.message, text);
      return true;
    },
  );
}

/** A certificate for `id` signed by `issuer` (with its chain if a site signs). */
async function forge(id: Omit<Identity, 'serial'>, issuer: Signer, validity = soon()): Promise<string> {
  const keys = await newKeyPair();
  const cert = await createCert(id, keys.publicKey, issuer, validity);
  return certPem(cert) + (issuer === branch ? certPem(branch.cert) : '');
}

describe('verifyCertificateChain', () => {
  it('accepts every valid certificate, with its identity', () => {
    const expect: Record<string, Partial<Identity>> = {
      srv: { role: 'server' },
      hq: { role: 'hq' },
      alice: { role: 'user' },
      branch: { role: 'site', site: 'branch' },
      bob: { role: 'user', site: 'branch' },
      carol: { role: 'client' },
    };
    for (const [name, want] of Object.entries(expect)) {
      const id = verifyCertificateChain(pki.profile(name).cert, pki.trust, ROLES);
      assert.equal(id.name, name);
      assert.equal(id.org, 'Test');
      assert.equal(id.role, want.role);
      assert.equal(id.site, want.site);
      assert.equal(id.issuer, name === 'bob' ? 'branch' : undefined, 'issuer: the site CA on the verified path, absent for the root');
      assert.match(id.serial, /^[1-9a-f][0-9a-f]*$/);
    }
  });

  it('scopes what a site CA issues: its alice is alice@branch; it grants only the groups the root let it', async () => {
    // the attacker holds branch's key (the branch host has it) and mints, bypassing insel pki issue
    const minted = verifyCertificateChain(await forge({ org: 'Test', role: 'user', name: 'alice', site: 'branch', groups: [] }, branch), pki.trust, ROLES);
    assert.deepEqual([minted.name, minted.issuer], ['alice', 'branch'], 'not the root\'s alice');
    refused(
      await forge({ org: 'Test', role: 'user', name: 'alice', site: 'branch', groups: ['admins'] }, branch),
      'INSEL_CERT_INVALID',
      /^certificate of user alice claims group admins, but site CA branch may not grant group admins \(it may grant no groups\); issue the certificate from the root CA \(without --ca\), or let the site grant the group: insel pki issue --role site --name branch --grant admins --force$/,
    );

    const t = await makeTestPki();
    try {
      await issueCert({ dir: t.dir, role: 'site', name: 'shop', grants: ['staff', 'sales'] });
      const paths = pkiPaths(t.dir);
      const shop = (await loadSiteSigner(paths, readIndex(paths), 'shop', new Date())).signer;
      const mint = async (groups: string[]) => {
        const keys = await newKeyPair();
        return certPem(await createCert({ org: 'Test', role: 'user', name: 'sam', site: 'shop', groups }, keys.publicKey, shop, soon())) + certPem(shop.cert);
      };
      assert.deepEqual(verifyCertificateChain(await mint(['sales', 'staff']), t.trust, ROLES).groups, ['sales', 'staff']);
      refused(await mint(['staff', 'admins']), 'INSEL_CERT_INVALID', /^certificate of user sam claims group admins, but site CA shop may not grant group admins \(it may grant only staff, sales\)/, ROLES, t.trust);
      // the root's own certificates are not limited by any site's grants
      await issueCert({ dir: t.dir, role: 'user', name: 'root-admin', site: 'shop', groups: ['admins'] });
      assert.equal(verifyCertificateChain(t.profile('root-admin').cert, t.trust, ROLES).issuer, undefined);
    } finally {
      t.cleanup();
    }
  });

  it('refuses every group of a site CA whose grants extension is malformed', async () => {
    const keys = await newKeyPair();
    const site = { org: 'Test', role: 'site' as const, name: 'odd', site: 'odd', groups: [] };
    const bad = await x509.X509CertificateGenerator.create({
      subject: 'CN=odd, O=Test, OU=site',
      issuer: root.cert.subjectName,
      publicKey: keys.publicKey,
      signingKey: root.privateKey,
      ...soon(),
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.digitalSignature, true),
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: encodeIdentityUri(site) }]),
        new x509.Extension(GRANTS_OID, false, new Uint8Array([0x30, 0x03, 0x0c, 0x05, 0x61]).buffer),
      ],
    });
    const odd: Signer = { cert: bad, privateKey: keys.privateKey };
    const mint = async (groups: string[]) => {
      const k = await newKeyPair();
      return certPem(await createCert({ org: 'Test', role: 'user', name: 'x', site: 'odd', groups }, k.publicKey, odd, soon())) + certPem(bad);
    };
    assert.equal(verifyCertificateChain(await mint([]), pki.trust, ROLES).issuer, 'odd');
    refused(await mint(['staff']), 'INSEL_CERT_INVALID', /claims group staff, but site CA odd may not grant group staff \(its group grants extension is malformed\)/);
  });

  it('refuses expired and not-yet-valid certificates', async () => {
    refused(pki.profile('old').cert, 'INSEL_CERT_EXPIRED', /^certificate of user old expired on \S+ \(now \S+\); issue a new one: insel pki issue --role user --name old --force$/);
    const future = await forge({ org: 'Test', role: 'user', name: 'later', groups: [] }, root, { notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 2 * DAY) });
    refused(future, 'INSEL_CERT_NOT_YET_VALID', /certificate of user later is not valid before .*check the clocks/);
    // the same chain is fine at a time when it is valid
    assert.equal(verifyCertificateChain(future, pki.trust, ROLES, new Date(Date.now() + 1.5 * DAY)).name, 'later');
    // a leaf that outlives its site CA is refused once the site CA has expired
    const siteEnd = branch.cert.notAfter.getTime();
    const outliving = await forge({ org: 'Test', role: 'user', name: 'long', site: 'branch', groups: [] }, branch, { notBefore: new Date(), notAfter: new Date(siteEnd + 10 * DAY) });
    assert.throws(
      () => verifyCertificateChain(outliving, pki.trust, ROLES, new Date(siteEnd + DAY)),
      (e: unknown) => e instanceof CertError && e.code === 'INSEL_CERT_EXPIRED' && /^certificate of user long was issued by site CA branch, whose certificate expired on .*renew the site CA/.test(e.message),
    );
  });

  it('refuses revoked certificates, naming serial and reason', () => {
    refused(pki.profile('mallory').cert, 'INSEL_CERT_REVOKED', /^certificate of user mallory is revoked \(serial [0-9a-f]+, since \S+, reason keyCompromise\); if access should be restored/);
  });

  it('refuses a certificate of a foreign CA', () => {
    refused(pki.foreign.cert, 'INSEL_CERT_UNKNOWN_CA', /certificate of user eve was issued by "CN=insel root CA, O=Other", which is not a trusted CA \(trusted: "CN=insel root CA, O=Test"\)/);
    // and the foreign end refuses ours
    refused(pki.profile('alice').cert, 'INSEL_CERT_UNKNOWN_CA', /not a trusted CA/, ROLES, trustFromPem(pki.foreign.ca));
  });

  it('refuses a certificate of a re-created CA with the same name, saying so', async () => {
    const dir = join(pki.dir, 'again');
    await initCa({ dir, org: 'Test' });
    await issueCert({ dir, role: 'user', name: 'alice' });
    refused(readFileSync(pkiPaths(dir).cert('alice'), 'utf8'), 'INSEL_CERT_UNKNOWN_CA', /its key differs: was the PKI re-created/);
  });

  it('refuses a role the caller does not accept', () => {
    refused(pki.profile('alice').cert, 'INSEL_CERT_WRONG_ROLE', /^certificate of user alice has role user, but this end accepts only server, hq; use a certificate issued with one of those roles/, ['server', 'hq']);
  });

  it('refuses a site user without its site CA in the chain', () => {
    const leafOnly = pki.profile('bob').cert.split(/(?<=-----END CERTIFICATE-----\n)/)[0]!;
    refused(leafOnly, 'INSEL_CERT_UNKNOWN_CA', /certificate of user bob was issued by "CN=branch, O=Test, OU=site", which is not a trusted CA/);
  });

  it('refuses what a site CA must not issue', async () => {
    refused(await forge({ org: 'Test', role: 'user', name: 'x', site: 'other', groups: [] }, branch), 'INSEL_CERT_INVALID', /claims site other but was issued by site CA branch; a site CA may only issue certificates for its own site/);
    refused(await forge({ org: 'Test', role: 'user', name: 'x', groups: [] }, branch), 'INSEL_CERT_INVALID', /claims site \(none\)/);
    for (const role of ['server', 'hq'] as const) {
      refused(await forge({ org: 'Test', role, name: 'x', site: 'branch', groups: [] }, branch), 'INSEL_CERT_WRONG_ROLE', new RegExp(`has role ${role} but was issued by site CA branch; a site CA may only issue user and client certificates`));
    }
    // a site CA minting another site CA: refused as a role (and OpenSSL would stop it at pathLen 0)
    refused(await forge({ org: 'Test', role: 'site', name: 'sub', site: 'sub', groups: [] }, branch), 'INSEL_CERT_WRONG_ROLE', /has role site but was issued by site CA branch/);
    // while the same site's users pass
    assert.equal(verifyCertificateChain(await forge({ org: 'Test', role: 'client', name: 'x', site: 'branch', groups: [] }, branch), pki.trust, ROLES).site, 'branch');
  });

  it('refuses a certificate signed by a leaf, or carrying no or a foreign identity', async () => {
    const alice = pki.profile('alice');
    const aliceCert = new x509.X509Certificate(alice.cert);
    const aliceKey = await crypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(alice.key), { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
    const byAlice = await forge({ org: 'Test', role: 'user', name: 'minion', groups: [] }, { cert: aliceCert, privateKey: aliceKey });
    refused(byAlice + alice.cert, 'INSEL_CERT_INVALID', /certificate of user minion was issued by the certificate of user alice, which is not a site CA/);

    const keys = await newKeyPair();
    const bare = await x509.X509CertificateGenerator.create({ subject: 'CN=bare', issuer: root.cert.subjectName, publicKey: keys.publicKey, signingKey: root.privateKey, ...soon() });
    refused(certPem(bare), 'INSEL_CERT_INVALID', /certificate with subject "CN=bare" is not usable: it carries no insel identity/);
    refused(await forge({ org: 'Other', role: 'user', name: 'x', groups: [] }, root), 'INSEL_CERT_INVALID', /claims org "Other" but was issued by the CA of org "Test"/);
  });

  it('counts a CRL only if the certificate\'s issuer signed it', async () => {
    const alice = verifyCertificateChain(pki.profile('alice').cert, pki.trust, ROLES);
    const bob = verifyCertificateChain(pki.profile('bob').cert, pki.trust, ROLES);
    const entries = [alice, bob].map((id) => ({ serial: id.serial, at: new Date(), reason: x509.X509CrlReason.keyCompromise }));
    const validity = { thisUpdate: new Date(), nextUpdate: new Date(Date.now() + DAY) };
    const ca = pki.profile('srv').ca;
    const intruder = (await newKeyPair()).privateKey;
    const crls = [
      await createCrl({ cert: root.cert, privateKey: intruder }, entries, validity), // root's name, wrong key
      await createCrl({ cert: branch.cert, privateKey: root.privateKey }, entries, validity), // site's name, root's key
      await createCrl(branch, entries, validity), // the site's own CRL: may revoke bob, not alice
    ];
    const trust = trustFromPem(ca, crls.map(crlPem).join(''));
    assert.equal(verifyCertificateChain(pki.profile('alice').cert, trust, ROLES).name, 'alice');
    refused(pki.profile('bob').cert, 'INSEL_CERT_REVOKED', /certificate of user bob is revoked/, ROLES, trust);
    const onlyForged = trustFromPem(ca, crlPem(crls[1]!));
    assert.equal(verifyCertificateChain(pki.profile('bob').cert, onlyForged, ROLES).name, 'bob');
  });

  it('refuses users of a revoked site CA', async () => {
    const t = await makeTestPki();
    try {
      await revoke({ dir: t.dir, nameOrSerial: 'branch', reason: 'cACompromise' });
      const trust = loadTrust({ caFile: pkiPaths(t.dir).caCert, crlFile: pkiPaths(t.dir).crl });
      refused(t.profile('bob').cert, 'INSEL_CERT_REVOKED', /^certificate of user bob was issued by site CA branch, which is revoked \(serial [0-9a-f]+, since \S+, reason cACompromise\), so every certificate it issued is refused/, ROLES, trust);
      refused(t.profile('branch').cert, 'INSEL_CERT_REVOKED', /certificate of site branch is revoked/, ROLES, trust);
    } finally {
      t.cleanup();
    }
  });

  it('refuses garbage and empty chains', () => {
    refused('', 'INSEL_CERT_MISSING', /no CERTIFICATE PEM block/);
    refused('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', 'INSEL_CERT_INVALID', /cannot be parsed as X\.509/);
    refused('-----BEGIN CERTIFICATE-----\n%%%\n-----END CERTIFICATE-----\n', 'INSEL_CERT_INVALID', /not valid base64/);
  });
});
