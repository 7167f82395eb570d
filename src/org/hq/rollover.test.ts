// CA rollover through HQ: the new trust bundle is pushed to subscribed
// gateways and no connection breaks; a site renews its certificate from the
// new root (same key); new codes pin the new root; retiring the old root
// cuts what still uses a certificate of it, and only that.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { waitUntil } from '../../net/testing.js';
import { keyPairFromPem } from '../../pki/certgen.js';
import { createCsr } from '../../pki/csr.js';
import { trustFromPem } from '../../pki/trust.js';
import { verifyCertificateChain } from '../../pki/verify.js';
import type { OrgEventMessage } from '../wire/hq-api.js';
import { isSignedBy } from '../../pki/signature.js';
import { x509 } from '../../pki/x509.js';
import { parseCode, pinOf } from '../enroll/code.js';
import { retireOrgCa, rolloverOrgCa, strandedBy } from './admin.js';
import { trustBundle } from './org-pki.js';
import { startTestHq, type TestHq } from './testing.js';

let t: TestHq;
before(async () => (t = await startTestHq()));
after(() => t.close());

test('rollover: trust pushed, nothing cut, renew onto the new root; retire cuts only the old certificates', async () => {
  const { identity } = await t.enrollSite('branch');
  const old = t.link(identity);
  const got: OrgEventMessage[] = [];
  old.onEvent((e) => got.push(e));
  await old.register({ site: 'branch', public: '127.0.0.1:17444', services: [] });
  assert.ok(await waitUntil(() => t.server.subscribers === 1, 5000));

  const r = await rolloverOrgCa(t.ctx);
  assert.deepEqual(r.roots, [1, 2]);
  assert.deepEqual(await strandedBy(t.ctx, 1), ['site:branch'], 'retiring root 1 now would lock branch out');
  assert.ok(await waitUntil(() => got.some((e) => e.kind === 'trust'), 5000));
  const bundle = (got.find((e) => e.kind === 'trust') as { ca: string }).ca;
  assert.equal(trustFromPem(bundle).roots.length, 2);
  await old.heartbeat(); // still connected

  // renew with the same key: signed by root 2
  const keys = await keyPairFromPem(identity.key, 'key.pem');
  const renewed = await old.renew(await createCsr(keys, 'branch'));
  const newRootOnly = trustFromPem(bundle.slice(bundle.lastIndexOf('-----BEGIN CERTIFICATE-----')));
  assert.equal(verifyCertificateChain(renewed.cert, newRootOnly, ['site']).name, 'branch');

  // a site enrolled now gets a code pinning the new root, and a certificate of it
  const fresh = await t.enrollSite('newcomer');
  assert.equal(verifyCertificateChain(fresh.identity.cert, newRootOnly, ['site']).name, 'newcomer');

  assert.deepEqual(await strandedBy(t.ctx, 1), [], 'branch renewed: nobody holds only root 1 certificates');
  const moved = t.link({ ...identity, cert: renewed.cert, ca: renewed.ca });
  await moved.register({ site: 'branch', public: '127.0.0.1:17444', services: [] });

  await retireOrgCa(t.ctx, 1);
  assert.ok(await waitUntil(() => !old.connected, 5000), 'the link on the old certificate is cut');
  await moved.heartbeat();
  assert.ok(moved.connected);
});

test('a user code pins the root of its site\'s certificate: the old root until the site renews, then the new one', async () => {
  const { identity } = await t.enrollSite('lab');
  const link = t.link(identity);
  await link.register({ site: 'lab', public: '127.0.0.1:17445', services: [] });
  const rootBefore = signingRootPin(identity.cert);
  await rolloverOrgCa(t.ctx);
  const before = parseCode((await link.userCode('ann', [], 3600)).code);
  assert.equal(before.pin, rootBefore, 'the site still presents its old-root certificate, so its users\' codes pin that root');

  const keys = await keyPairFromPem(identity.key, 'key.pem');
  const renewed = await link.renew(await createCsr(keys, 'lab'));
  const after = parseCode((await link.userCode('ann', [], 3600)).code);
  assert.equal(after.pin, signingRootPin(renewed.cert));
  assert.notEqual(after.pin, before.pin, 'after the renewal codes pin the new root');
});

/** The pin of the root (in HQ's trust bundle) that signed the leaf of `certPem`. */
function signingRootPin(certPem: string): string {
  const roots = trustFromPem(trustBundle(t.ctx.pkiDir)).roots;
  const leaf = new x509.X509Certificate(certPem.slice(0, certPem.indexOf('-----END CERTIFICATE-----') + 25));
  const root = roots.find((r) => isSignedBy(leaf, r.key));
  assert.ok(root, 'a root of the bundle signed it');
  return pinOf(new Uint8Array(root.cert.rawData));
}
