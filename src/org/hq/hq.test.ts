// HQ end to end in one process over loopback TLS, on the real registry
// (SQLite; PostgreSQL with INSEL_TEST_PG, required under CI=true): sites
// enroll with codes, register, authorize users, claim tickets, and receive
// revocations; every code error has its own message and event; 50 clients
// racing for one code get one certificate.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it as test } from 'node:test';
import { waitUntil } from '../../net/testing.js';
import { newKeyPair } from '../../pki/certgen.js';
import { createCsr } from '../../pki/csr.js';
import { newCode } from '../enroll/code.js';
import { enrollWithCode } from '../enroll/client.js';
import { EnrollError } from '../enroll/errors.js';
import { OrgRefusedError } from '../wire/errors.js';
import type { OrgEventMessage, OrgUser } from '../wire/hq-api.js';
import type { HqLink } from '../wire/hq-link.js';
import { addSite, revokeIdentity } from './admin.js';
import { pinnedRootDer } from './org-pki.js';
import { startTestHq, type TestHq } from './testing.js';
import { makePostgresDatabase, testPostgres, type TestDatabase } from '../../store/testing.js';

const csr = async () => createCsr(await newKeyPair(), 'x');
const refusedWith = (code: string, text?: RegExp) => (e: unknown) => e instanceof OrgRefusedError && e.code === code && (text === undefined || text.test(e.reason));
const enrollFails = (code: string) => (e: unknown) => e instanceof EnrollError && e.code === code;
const alice = (serial = '1'): OrgUser => ({ name: 'alice', site: 'branch', groups: ['eng'], serial });

function hqSuite(makeDb: () => Promise<TestDatabase | undefined>): void {
  let t: TestHq;
  let branch: HqLink;
  let main: HqLink;
  let scratch: string;

  let db: TestDatabase | undefined;

  before(async () => {
    db = await makeDb();
    t = await startTestHq(db === undefined ? {} : { database: db.options.database });
    scratch = mkdtempSync(join(tmpdir(), 'insel-hq-test-'));
    const b = await t.enrollSite('branch', ['eng', 'ops']);
    const m = await t.enrollSite('main');
    await t.enrollSite('third');
    branch = t.link(b.identity);
    main = t.link(m.identity);
    await branch.register({ site: 'branch', public: '127.0.0.1:17444', services: [] });
    await main.register({
      site: 'main',
      public: '127.0.0.1:27444',
      udp: '127.0.0.1:27445',
      services: [
        { name: 'web', proto: 'tcp', groups: ['eng'] },
        { name: 'db', proto: 'tcp', groups: ['dba'] },
      ],
    });
  });
  after(async () => {
    await t?.close();
    await db?.cleanup();
    rmSync(scratch, { recursive: true, force: true });
  });

  test('a site enrolled with its code holds a 0600 key and a site certificate; the code is spent', async () => {
    const dir = join(t.dir, 'site-branch');
    assert.equal(statSync(join(dir, 'key.pem')).mode & 0o777, 0o600);
    const certs = await t.ctx.registry.certsOf('site', 'branch');
    assert.equal(certs.length, 1);
    const events = await t.ctx.registry.events({ kind: 'enroll' });
    assert.ok(events.some((e) => e.subject === 'site:branch'));
  });

  test('a user code from a site, redeemed through that site, gives a user certificate with the site and groups', async () => {
    const { code } = await branch.userCode('alice', ['eng'], 3600);
    const { cert, ca } = await branch.redeem(code, await csr());
    assert.match(cert, /BEGIN CERTIFICATE/);
    assert.match(ca, /BEGIN CERTIFICATE/);
    const u = await t.ctx.registry.user('alice');
    assert.deepEqual({ site: u?.site, groups: u?.groups }, { site: 'branch', groups: ['eng'] });
    await assert.rejects(branch.userCode('bob', ['dba'], 3600), refusedWith('INSEL_ORG_FORBIDDEN', /may not grant group dba/));
    // a user code presented at HQ directly works too
    const carol = await branch.userCode('carol', ['ops'], 3600);
    const r = await enrollWithCode({ server: t.hq, code: carol.code, dir: join(scratch, 'carol'), role: 'user' });
    assert.deepEqual([r.identity.role, r.identity.name, r.identity.site, r.identity.groups], ['user', 'carol', 'branch', ['ops']]);
    await assert.rejects(main.userCode('alice', [], 3600), refusedWith('INSEL_ORG_FORBIDDEN', /taken by site branch/));
    await assert.rejects(branch.userCode('alice', ['ops'], 3600), refusedWith('INSEL_ORG_FORBIDDEN', /exists with groups eng/));
    assert.match((await branch.userCode('alice', ['eng'], 3600)).code, /^insel-/); // a new code to re-enroll
  });

  test('authorize: a ticket for a common group; the target site claims it once; refusals name group, service and site', async () => {
    const a = await branch.authorize(alice(), 'web@main');
    assert.deepEqual(a.site, { name: 'main', public: '127.0.0.1:27444', udp: '127.0.0.1:27445' });
    assert.deepEqual(a.service, { name: 'web', proto: 'tcp' });
    await assert.rejects(branch.ticket(a.ticket), refusedWith('INSEL_ORG_TICKET'), 'a ticket is bound to its target site');
    const info = await main.ticket(a.ticket);
    assert.deepEqual({ user: info.user.name, groups: info.user.groups, service: info.service, from: info.fromSite }, { user: 'alice', groups: ['eng'], service: 'web@main', from: 'branch' });
    await assert.rejects(main.ticket(a.ticket), refusedWith('INSEL_ORG_TICKET', /already used/), 'single use');
    await main.sessionEnd(a.ticket, 10, 20);

    await assert.rejects(branch.authorize(alice(), 'db@main'), refusedWith('INSEL_ORG_DENIED', /groups: eng.*none of the groups of db@main \(dba\)/));
    await assert.rejects(branch.authorize(alice(), 'nope@main'), refusedWith('INSEL_ORG_UNKNOWN_SERVICE', /no service nope at site main/));
    await assert.rejects(main.authorize({ ...alice(), site: 'main' }, 'web@main'), refusedWith('INSEL_ORG_FORBIDDEN', /belongs to site branch/));
    await assert.rejects(branch.authorize({ ...alice(), name: 'mallory' }, 'web@main'), refusedWith('INSEL_ORG_DENIED', /not in the organization/));
    const refusals = await t.ctx.registry.events({ kind: 'authorize-refused' });
    assert.ok(refusals.length >= 4);
  });

  test('a site that is not online is refused as down', async () => {
    await t.ctx.registry.addEvent({ kind: 'test', subject: 'x', detail: null }, new Date());
    const third = await t.ctx.registry.site('third');
    assert.notEqual(third?.status, 'online');
    // third publishes a service via the registry directly, as if it had registered and then gone silent
    await t.ctx.registry.registerSite('third', '127.0.0.1:37444', null, [{ name: 'mail', proto: 'tcp', groups: ['eng'] }], new Date(Date.now() - 3600_000));
    await t.ctx.registry.markOffline(new Date(Date.now() - 60_000));
    await assert.rejects(branch.authorize(alice(), 'mail@third'), refusedWith('INSEL_ORG_SITE_DOWN', /site third is offline/));
  });

  test('services lists what the user may use, with whether its site is online', async () => {
    const list = await branch.services(alice());
    assert.deepEqual(
      list.map((s) => `${s.name}@${s.site}:${s.online}`).sort(),
      ['mail@third:false', 'web@main:true'],
    );
  });

  test('each code error has its own message and event', async () => {
    const before = (await t.ctx.registry.events({ kind: 'enroll-refused', limit: 1000 })).length;
    const pin = pinnedRootDer(t.ctx.pkiDir);
    // unknown: well formed, never issued
    await assert.rejects(enrollWithCode({ server: t.hq, code: newCode(pin).text, dir: join(scratch, 'u'), role: 'site' }), enrollFails('INSEL_CODE_UNKNOWN'));
    // used
    const { code } = await addSite(t.ctx, 'fourth', [], 3600_000);
    await enrollWithCode({ server: t.hq, code, dir: join(scratch, 'f1'), role: 'site' });
    await assert.rejects(enrollWithCode({ server: t.hq, code, dir: join(scratch, 'f2'), role: 'site' }), (e: unknown) => enrollFails('INSEL_CODE_USED')(e) && /already used/.test((e as Error).message));
    // expired
    const old = newCode(pin);
    await t.ctx.registry.addCode({ id: old.id, secretHash: old.secretHash, scope: { role: 'site', name: 'fifth', groups: [] }, expiresAt: new Date(Date.now() - 1000), createdBy: 'test' });
    await assert.rejects(enrollWithCode({ server: t.hq, code: old.text, dir: join(scratch, 'e'), role: 'site' }), (e: unknown) => enrollFails('INSEL_CODE_EXPIRED')(e) && /expired/.test((e as Error).message));
    // wrong scope: a site code forwarded by a site as a user's
    const site6 = await addSite(t.ctx, 'sixth', [], 3600_000);
    await assert.rejects(branch.redeem(site6.code, await csr()), refusedWith('INSEL_CODE_SCOPE', /enrolls site sixth.*still valid/));
    // ... and the code is not spent by it: the site it was made for still enrolls with it.
    await enrollWithCode({ server: t.hq, code: site6.code, dir: join(scratch, 's6'), role: 'site' });
    // malformed (sent raw, as a hostile client would)
    await assert.rejects(branch.redeem('insel-nope', await csr()), refusedWith('INSEL_CODE_MALFORMED'));
    const after_ = await t.ctx.registry.events({ kind: 'enroll-refused', limit: 1000 });
    assert.equal(after_.length - before, 5);
    const codes = new Set(after_.map((e) => (e.detail as { code: string }).code));
    for (const c of ['INSEL_CODE_UNKNOWN', 'INSEL_CODE_USED', 'INSEL_CODE_EXPIRED', 'INSEL_CODE_SCOPE', 'INSEL_CODE_MALFORMED']) assert.ok(codes.has(c), c);
  });

  test('a code pinning another organization is never sent to this HQ', async () => {
    const other = await startTestHq({ org: 'Other' });
    try {
      const { code } = await addSite(other.ctx, 'x', [], 3600_000);
      const before = (await t.ctx.registry.events({ kind: 'enroll-refused', limit: 1000 })).length;
      await assert.rejects(enrollWithCode({ server: t.hq, code, dir: join(scratch, 'p'), role: 'site' }), (e: unknown) => enrollFails('INSEL_CODE_PIN')(e) && /nothing was sent/.test((e as Error).message));
      assert.equal((await t.ctx.registry.events({ kind: 'enroll-refused', limit: 1000 })).length, before);
    } finally {
      await other.close();
    }
  });

  test('50 clients racing to redeem one code: exactly one certificate, 49 clear refusals', async () => {
    const { code } = await addSite(t.ctx, 'raced', [], 3600_000);
    const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => enrollWithCode({ server: t.hq, code, dir: join(scratch, `race-${i}`), role: 'site' })));
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.equal(won.length, 1);
    assert.equal(lost.length, 49);
    for (const l of lost) assert.ok(enrollFails('INSEL_CODE_USED')(l.reason), String(l.reason));
    assert.equal((await t.ctx.registry.certsOf('site', 'raced')).length, 1);
  });

  test('revoking a user reaches a subscribed gateway within 1 s with the new CRL', async () => {
    const got: OrgEventMessage[] = [];
    const off = main.onEvent((e) => got.push(e));
    await waitUntil(() => t.server.subscribers >= 1, 5000);
    const started = Date.now();
    const r = await revokeIdentity(t.ctx, 'user', 'alice', 'left the company');
    assert.ok(await waitUntil(() => got.some((e) => e.kind === 'revoked'), 5000));
    const elapsed = Date.now() - started;
    off();
    const e = got.find((x) => x.kind === 'revoked') as Extract<OrgEventMessage, { kind: 'revoked' }>;
    assert.deepEqual(e.names, [{ role: 'user', name: 'alice' }]);
    assert.deepEqual(e.serials, r.revoked.map((c) => c.serial));
    assert.equal(e.reason, 'left the company');
    assert.match(e.crl, /BEGIN X509 CRL/);
    assert.ok(elapsed < 1000, `revocation took ${elapsed} ms`);
    await assert.rejects(branch.authorize(alice(), 'web@main'), refusedWith('INSEL_ORG_DENIED', /revoked/));
  });

  test('revoking a user with many certificates and a long reason still reaches the gateway (the notice keeps the names)', async () => {
    const got: OrgEventMessage[] = [];
    const off = main.onEvent((e) => got.push(e));
    const now = new Date();
    await t.ctx.registry.addUser({ name: 'hoarder', site: 'branch', groups: [] }, now);
    const caSerial = (await t.ctx.registry.certsOf('site', 'branch'))[0]!.caSerial;
    for (let i = 0; i < 20; i++) {
      await t.ctx.registry.addCert({ serial: `${(0xabc000 + i).toString(16)}${'0'.repeat(26)}`, role: 'user', name: 'hoarder', site: 'branch', notAfter: new Date(now.getTime() + 86_400_000), caSerial });
    }
    const r = await revokeIdentity(t.ctx, 'user', 'hoarder', 'x'.repeat(400));
    assert.equal(r.revoked.length, 20);
    assert.ok(await waitUntil(() => got.some((e) => e.kind === 'revoked' && e.names.some((n) => n.name === 'hoarder')), 5000), 'the revocation was pushed');
    off();
  });

  test('revoking a site closes its HQ connection with the reason; requests then fail naming HQ', async () => {
    const s = await t.enrollSite('doomed');
    const link = t.link(s.identity);
    await link.register({ site: 'doomed', public: '127.0.0.1:1', services: [] });
    await revokeIdentity(t.ctx, 'site', 'doomed', 'keyCompromise');
    assert.ok(await waitUntil(() => !link.connected, 5000));
    await assert.rejects(link.heartbeat(), (e: unknown) => e instanceof Error && 'code' in e && ((e as { code: string }).code === 'INSEL_HQ_UNAVAILABLE') && e.message.includes(`127.0.0.1:${t.hq.port}`));
  });
}

const postgres = await testPostgres();
describe('HQ on SQLite', () => hqSuite(async () => undefined));
describe('HQ on PostgreSQL', { skip: 'skip' in postgres ? postgres.skip : false }, () => hqSuite(() => makePostgresDatabase((postgres as { url: string }).url)()));
