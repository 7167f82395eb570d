// One registry test suite, run against every dialect (registry.test.ts):
// the same calls must give the same answers on SQLite and PostgreSQL.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Registry, RedeemResult } from './types.js';
import { StoreError } from './errors.js';
import { waitFor, type MakeTestDatabase, type TestDatabase } from './testing.js';

const HOUR = 3600_000;
const T0 = new Date('2030-01-01T00:00:00Z');
const at = (ms: number): Date => new Date(T0.getTime() + ms);
const sha = (s: string): Buffer => createHash('sha256').update(s).digest();

function storeError(code: StoreError['code']): (err: unknown) => boolean {
  return (err) => err instanceof StoreError && err.code === code;
}

export function registrySuite(dialect: string, make: MakeTestDatabase): void {
  /** A fresh database and a registry on it, both gone after `fn`. */
  async function withRegistry(fn: (r: Registry, db: TestDatabase) => Promise<void>): Promise<void> {
    const db = await make();
    try {
      const r = await db.open();
      try {
        await fn(r, db);
      } finally {
        await r.close();
      }
    } finally {
      await db.cleanup();
    }
  }

  describe(`registry on ${dialect}`, () => {
    it('sites: add, register with services, heartbeat, offline, status', () => withRegistry(async (r) => {
      assert.equal(r.dialect, dialect);
      await r.addSite('branch', ['eng', 'ops']);
      await r.addSite('hq', []);
      assert.deepEqual(await r.site('branch'), { name: 'branch', public: null, udp: null, status: 'enrolled', lastHeartbeat: null, groups: ['eng', 'ops'] });
      await r.registerSite('branch', '203.0.113.5:7444', '203.0.113.5:7445', [
        { name: 'web', proto: 'tcp', groups: ['eng'] }, { name: 'rtp', proto: 'udp', groups: [] },
      ], at(0));
      assert.deepEqual(await r.site('branch'), { name: 'branch', public: '203.0.113.5:7444', udp: '203.0.113.5:7445', status: 'online', lastHeartbeat: at(0), groups: ['eng', 'ops'] });
      assert.deepEqual(await r.services(), [
        { name: 'rtp', site: 'branch', proto: 'udp', groups: [] }, { name: 'web', site: 'branch', proto: 'tcp', groups: ['eng'] },
      ]);
      // A re-registration replaces the site's services.
      await r.registerSite('branch', '203.0.113.5:7444', null, [{ name: 'ftp', proto: 'tcp', groups: ['ops'] }], at(1000));
      assert.deepEqual(await r.services(), [{ name: 'ftp', site: 'branch', proto: 'tcp', groups: ['ops'] }]);
      assert.deepEqual(await r.service('ftp', 'branch'), { name: 'ftp', site: 'branch', proto: 'tcp', groups: ['ops'] });
      assert.equal(await r.service('web', 'branch'), undefined);
      assert.equal(await r.service('ftp', 'hq'), undefined);
      await r.registerSite('hq', '198.51.100.1:7444', null, [], at(1000));
      await r.heartbeat('hq', at(20_000));
      assert.deepEqual(await r.markOffline(at(10_000)), ['branch']);
      assert.deepEqual(await r.markOffline(at(10_000)), []);
      assert.equal((await r.site('branch'))?.status, 'offline');
      await r.heartbeat('branch', at(30_000));
      assert.equal((await r.site('branch'))?.status, 'online');
      await r.setSiteStatus('branch', 'revoked');
      assert.deepEqual((await r.sites()).map((s) => [s.name, s.status]), [['branch', 'revoked'], ['hq', 'online']]);
      assert.equal(await r.site('nowhere'), undefined);
    }));

    it('sites: duplicates, unknown and revoked sites give typed errors', () => withRegistry(async (r) => {
      await r.addSite('branch', []);
      await assert.rejects(r.addSite('branch', []), storeError('INSEL_STORE_EXISTS'));
      await assert.rejects(r.registerSite('nowhere', 'h:1', null, [], T0), storeError('INSEL_STORE_NOT_FOUND'));
      await assert.rejects(r.heartbeat('nowhere', T0), storeError('INSEL_STORE_NOT_FOUND'));
      await assert.rejects(r.setSiteStatus('nowhere', 'offline'), storeError('INSEL_STORE_NOT_FOUND'));
      const twice = [{ name: 'web', proto: 'tcp' as const, groups: [] }, { name: 'web', proto: 'udp' as const, groups: [] }];
      await assert.rejects(r.registerSite('branch', 'h:1', null, twice, T0), storeError('INSEL_STORE_EXISTS'));
      const many = Array.from({ length: 1001 }, (_, i) => ({ name: `s${i}`, proto: 'tcp' as const, groups: [] }));
      await assert.rejects(r.registerSite('branch', 'h:1', null, many, T0), storeError('INSEL_STORE_INVALID'));
      // A revoked site stays revoked whatever it sends.
      await r.setSiteStatus('branch', 'revoked');
      await assert.rejects(r.registerSite('branch', 'h:1', null, [], T0), storeError('INSEL_STORE_INVALID'));
      await assert.rejects(r.heartbeat('branch', T0), storeError('INSEL_STORE_INVALID'));
      assert.equal((await r.site('branch'))?.status, 'revoked');
      assert.deepEqual(await r.services(), []);
    }));

    it('users: add, list by site, status; duplicates and unknown sites refused', () => withRegistry(async (r) => {
      await r.addSite('a', ['eng']);
      await r.addSite('b', []);
      await r.addUser({ name: 'bob', site: 'b', groups: [] }, at(1));
      await r.addUser({ name: 'alice', site: 'a', groups: ['eng'] }, at(2));
      assert.deepEqual(await r.user('alice'), { name: 'alice', site: 'a', groups: ['eng'], status: 'active', createdAt: at(2) });
      assert.deepEqual((await r.users()).map((u) => u.name), ['alice', 'bob']);
      assert.deepEqual((await r.users('b')).map((u) => u.name), ['bob']);
      await r.setUserStatus('alice', 'revoked');
      assert.equal((await r.user('alice'))?.status, 'revoked');
      assert.equal(await r.user('carol'), undefined);
      await assert.rejects(r.addUser({ name: 'alice', site: 'b', groups: [] }, T0), storeError('INSEL_STORE_EXISTS'));
      await assert.rejects(r.addUser({ name: 'carol', site: 'nowhere', groups: [] }, T0), storeError('INSEL_STORE_NOT_FOUND'));
      await assert.rejects(r.setUserStatus('carol', 'revoked'), storeError('INSEL_STORE_NOT_FOUND'));
    }));

    it('codes: redeemed once; a wrong secret takes nothing; used, expired and unknown told apart', () => withRegistry(async (r) => {
      const scope = { role: 'user' as const, name: 'alice', site: 'a', groups: ['eng'] };
      await r.addCode({ id: 'c1', secretHash: sha('s1'), scope, expiresAt: at(HOUR), createdBy: 'admin' });
      await r.addCode({ id: 'c2', secretHash: sha('s2'), scope: { role: 'site', name: 'branch', groups: [] }, expiresAt: at(HOUR), createdBy: 'admin' });
      await assert.rejects(r.addCode({ id: 'c1', secretHash: sha('x'), scope, expiresAt: at(HOUR), createdBy: 'admin' }), storeError('INSEL_STORE_EXISTS'));
      assert.deepEqual(await r.redeemCode('c1', sha('wrong'), at(0)), { ok: false, why: 'secret' });
      // Presented through another site, or a site code through a site: refused, and still unspent.
      const elsewhere = await r.redeemCode('c1', sha('s1'), at(0), { role: 'user', site: 'b' });
      assert.ok(!elsewhere.ok && elsewhere.why === 'scope' && elsewhere.code.site === 'a', JSON.stringify(elsewhere));
      const siteCode = await r.redeemCode('c2', sha('s2'), at(0), { role: 'user', site: 'a' });
      assert.ok(!siteCode.ok && siteCode.why === 'scope' && siteCode.code.role === 'site', JSON.stringify(siteCode));
      const won = await r.redeemCode('c1', sha('s1'), at(1), { role: 'user', site: 'a' });
      assert.deepEqual(won, { ok: true, code: { id: 'c1', ...scope, expiresAt: at(HOUR), redeemedAt: at(1), createdBy: 'admin' } });
      assert.deepEqual(await r.redeemCode('c1', sha('s1'), at(2)), { ok: false, why: 'used' });
      assert.deepEqual(await r.redeemCode('c1', sha('wrong'), at(2)), { ok: false, why: 'secret' });
      assert.deepEqual(await r.redeemCode('c2', sha('s2'), at(HOUR)), { ok: false, why: 'expired' });
      assert.deepEqual(await r.redeemCode('nope', sha('s1'), at(0)), { ok: false, why: 'unknown' });
      const site = await r.redeemCode('c2', sha('s2'), at(HOUR - 1));
      assert.ok(site.ok && site.code.site === undefined && site.code.role === 'site');
      await r.setCodeSerial('c1', '0a1b');
      await assert.rejects(r.setCodeSerial('nope', '0a1b'), storeError('INSEL_STORE_NOT_FOUND'));
    }));

    it('codes: 50 concurrent redeems on one registry give one certificate and 49 "used"', () => withRegistry(async (r) => {
      await r.addCode({ id: 'race', secretHash: sha('s'), scope: { role: 'user', name: 'u', groups: [] }, expiresAt: at(HOUR), createdBy: 'admin' });
      assertOneWinner(await Promise.all(Array.from({ length: 50 }, () => r.redeemCode('race', sha('s'), at(0)))));
    }));

    it('codes: 50 redeems racing through two registries on one database give one winner', () => withRegistry(async (r, db) => {
      const other = await db.open();
      try {
        await r.addCode({ id: 'race', secretHash: sha('s'), scope: { role: 'user', name: 'u', groups: [] }, expiresAt: at(HOUR), createdBy: 'admin' });
        const both = [r, other];
        assertOneWinner(await Promise.all(Array.from({ length: 50 }, (_, i) => both[i % 2]!.redeemCode('race', sha('s'), at(0)))));
      } finally {
        await other.close();
      }
    }));

    it('codes: 25 redeems here race 25 in another process; its publish reaches us within 1 s', () => withRegistry(async (r, db) => {
      await r.addCode({ id: 'race', secretHash: sha('s'), scope: { role: 'user', name: 'u', groups: [] }, expiresAt: at(HOUR), createdBy: 'admin' });
      const heard: string[] = [];
      r.subscribe((c) => heard.push(c.kind));
      const child = startChild(db);
      try {
        assert.equal(await child.line(), 'ready');
        child.process.stdin.write('go\n');
        const [mine, theirs] = await Promise.all([
          Promise.all(Array.from({ length: 25 }, () => r.redeemCode('race', sha('s'), at(0)))),
          child.line().then((line) => JSON.parse(line) as string[]),
        ]);
        const outcomes = [...mine.map((x) => (x.ok ? 'ok' : x.why)), ...theirs].sort();
        assert.deepEqual(outcomes, ['ok', ...Array(49).fill('used')]);
        await waitFor(() => heard.includes('child'), 1000, "the other process's change");
      } finally {
        child.process.kill();
        await child.exited;
      }
    }));

    it('writes from two registries on one database interleave with a transaction, without waiting out a lock', () => withRegistry(async (r, db) => {
      const other = await db.open();
      try {
        await r.addSite('branch', []);
        const services = Array.from({ length: 50 }, (_, i) => ({ name: `s${i}`, proto: 'tcp' as const, groups: [] }));
        await Promise.all([
          ...Array.from({ length: 5 }, (_, i) => r.registerSite('branch', 'h:1', null, services, at(i))),
          ...Array.from({ length: 20 }, (_, i) => other.setSetting(`k${i}`, 'v')),
        ]);
        assert.equal((await other.services()).length, 50);
      } finally {
        await other.close();
      }
    }));

    it('certificates: add, list, revoke by serial or identity (newly revoked only); an empty filter is refused', () => withRegistry(async (r) => {
      const cert = (serial: string, role: string, name: string) => ({ serial, role, name, site: role === 'user' ? 'a' : null, notAfter: at(Number.parseInt(serial, 16) * HOUR), caSerial: 'ca1' });
      await r.addCert(cert('01', 'user', 'alice'));
      await r.addCert(cert('02', 'user', 'alice'));
      await r.addCert(cert('03', 'site', 'alice'));
      await r.addCert(cert('04', 'user', 'bob'));
      await assert.rejects(r.addCert(cert('01', 'user', 'x')), storeError('INSEL_STORE_EXISTS'));
      assert.deepEqual((await r.certsOf('user', 'alice')).map((c) => c.serial), ['01', '02']);
      assert.deepEqual(await r.certsOf('user', 'carol'), []);
      const first = await r.revokeCerts({ serial: '02' }, 'key lost', at(5));
      assert.deepEqual(first, [{ ...cert('02', 'user', 'alice'), revokedAt: at(5), reason: 'key lost' }]);
      assert.deepEqual((await r.revokeCerts({ role: 'user', name: 'alice' }, 'left', at(6))).map((c) => c.serial), ['01']);
      assert.deepEqual(await r.revokeCerts({ role: 'user', name: 'alice' }, 'left', at(7)), []);
      assert.deepEqual((await r.revokedCerts()).map((c) => [c.serial, c.reason]), [['02', 'key lost'], ['01', 'left']]);
      await assert.rejects(r.revokeCerts({}, 'oops', at(8)), storeError('INSEL_STORE_INVALID'));
      await assert.rejects(r.revokeCerts({ role: 'user' }, 'oops', at(8)), storeError('INSEL_STORE_INVALID'));
      assert.equal((await r.revokedCerts()).length, 2);
      // live: neither revoked (01, 02) nor expired by then (03 ends at hour 3)
      assert.deepEqual((await r.liveCerts(at(3 * HOUR))).map((c) => c.serial), ['04']);
      assert.deepEqual((await r.liveCerts(at(0))).map((c) => c.serial).sort(), ['03', '04']);
    }));

    it('settings: get, set, overwrite', () => withRegistry(async (r) => {
      assert.equal(await r.getSetting('crl'), undefined);
      await r.setSetting('crl', 'PEM 1');
      await r.setSetting('crl', 'PEM 2');
      await r.setSetting('ca-generation', '1');
      assert.equal(await r.getSetting('crl'), 'PEM 2');
      assert.equal(await r.getSetting('ca-generation'), '1');
    }));

    it('sessions: a ticket is claimed once, only by its target site, only before it expires', () => withRegistry(async (r) => {
      const open = (id: string, secret: string, expiresAt: Date) => r.openSession({ id, secretHash: sha(secret), user: 'alice', service: 'web@b', fromSite: 'a', targetSite: 'b', startedAt: at(Number(id.slice(1))), expiresAt });
      await open('t1', 's1', at(30_000));
      await open('t2', 's2', at(30_000));
      await open('t3', 's3', at(30_000));
      await assert.rejects(open('t1', 'x', at(1)), storeError('INSEL_STORE_EXISTS'));
      assert.equal(await r.claimTicket('t1', sha('s1'), 'c', at(10)), undefined, 'another site');
      assert.equal(await r.claimTicket('t1', sha('wrong'), 'b', at(10)), undefined, 'wrong secret');
      const claimed = await r.claimTicket('t1', sha('s1'), 'b', at(10));
      assert.deepEqual(claimed, { id: 't1', user: 'alice', service: 'web@b', fromSite: 'a', startedAt: at(1), endedAt: null, bytesIn: 0, bytesOut: 0 });
      assert.equal(await r.claimTicket('t1', sha('s1'), 'b', at(11)), undefined, 'second claim');
      assert.equal(await r.claimTicket('t2', sha('s2'), 'b', at(30_000)), undefined, 'expired');
      assert.equal(await r.claimTicket('nope', sha('s1'), 'b', at(10)), undefined, 'unknown');
      const claims = await Promise.all(Array.from({ length: 20 }, () => r.claimTicket('t3', sha('s3'), 'b', at(10))));
      assert.equal(claims.filter((c) => c !== undefined).length, 1);
      await r.endSession('t1', 1234, 5_000_000_000, at(99));
      await r.endSession('t1', 1, 1, at(100)); // a repeated report keeps the first
      await assert.rejects(r.endSession('nope', 1, 1, at(99)), storeError('INSEL_STORE_NOT_FOUND'));
      assert.deepEqual((await r.sessions({ open: false }))[0], { ...claimed, endedAt: at(99), bytesIn: 1234, bytesOut: 5_000_000_000 });
      assert.deepEqual((await r.sessions({ open: true })).map((s) => s.id), ['t3', 't2']);
      assert.deepEqual((await r.sessions()).map((s) => s.id), ['t3', 't2', 't1']);
      assert.deepEqual((await r.sessions({ limit: 1 })).map((s) => s.id), ['t3']);
      // A minute after it expired, a ticket nobody claimed (t2) is dropped when the next one is issued.
      await open('t100000', 's', at(130_000));
      assert.deepEqual((await r.sessions()).map((s) => s.id), ['t100000', 't3', 't1']);
    }));

    it('events: newest first, by kind, limited', () => withRegistry(async (r) => {
      await r.addEvent({ kind: 'code-used', subject: 'c1', detail: { by: '127.0.0.1' } }, at(1));
      await r.addEvent({ kind: 'revoked', subject: 'user:alice', detail: null }, at(2));
      await r.addEvent({ kind: 'code-used', subject: 'c2', detail: [1, 'x'] }, at(3));
      assert.deepEqual(await r.events({ kind: 'code-used' }), [
        { kind: 'code-used', subject: 'c2', detail: [1, 'x'], at: at(3) }, { kind: 'code-used', subject: 'c1', detail: { by: '127.0.0.1' }, at: at(1) },
      ]);
      assert.deepEqual((await r.events({ limit: 2 })).map((e) => e.subject), ['c2', 'user:alice']);
      await assert.rejects(r.addEvent({ kind: 'big', subject: 's', detail: 'x'.repeat(20_000) }, at(4)), storeError('INSEL_STORE_INVALID'));
    }));

    it('migrations: opening the database again keeps the data and migrates nothing twice', () => withRegistry(async (r, db) => {
      await r.addSite('branch', ['eng']);
      const again = await db.open();
      try {
        assert.deepEqual((await again.sites()).map((s) => s.name), ['branch']);
      } finally {
        await again.close();
      }
      const third = await db.open();
      await third.close();
      await third.close(); // closing twice is harmless
    }));

    it('migrations: registries opened at once on a new database, here and in 3 other processes, migrate it once', async () => {
      const db = await make();
      const children = Array.from({ length: 3 }, () => startChild(db));
      try {
        const [opened, ready] = await Promise.all([Promise.all([db.open(), db.open(), db.open()]), Promise.all(children.map((c) => c.line()))]);
        assert.deepEqual(ready, ['ready', 'ready', 'ready']);
        await opened[0]!.addSite('x', []);
        assert.equal((await opened[2]!.sites()).length, 1);
        await Promise.all(opened.map((r) => r.close()));
      } finally {
        for (const c of children) c.process.kill();
        await Promise.all(children.map((c) => c.exited));
        await db.cleanup();
      }
    });

    it('migrations: a database migrated by a newer insel is refused with INSEL_STORE_MIGRATION', () => withRegistry(async (_r, db) => {
      await db.exec("INSERT INTO kysely_migration (name, timestamp) VALUES ('9999-from-the-future', '2099-01-01T00:00:00.000Z')");
      await assert.rejects(db.open(), (e: unknown) => e instanceof StoreError && e.code === 'INSEL_STORE_MIGRATION' && /newer insel/.test(e.message));
    }));

    it('changes: a publish reaches subscribers on this and on another registry of the same database within 1 s', () => withRegistry(async (r, db) => {
      const other = await db.open();
      try {
        const here: string[] = [];
        const there: string[] = [];
        const stopHere = r.subscribe((c) => here.push(`${c.kind}:${c.subject}`));
        const stopThere = other.subscribe((c) => there.push(`${c.kind}:${c.subject}`));
        await r.publish({ kind: 'revoked', subject: 'user:alice' });
        await waitFor(() => there.includes('revoked:user:alice') && here.includes('revoked:user:alice'), 1000, 'the change on both registries');
        await other.publish({ kind: 'services', subject: 'branch' });
        await waitFor(() => here.includes('services:branch'), 1000, 'the change from the other registry');
        stopThere();
        await r.publish({ kind: 'services', subject: 'late' });
        await waitFor(() => here.includes('services:late'), 1000, 'the third change');
        assert.ok(!there.includes('services:late'), 'an unsubscribed listener hears nothing');
        stopHere();
        await assert.rejects(r.publish({ kind: 'k'.repeat(65), subject: 's' }), storeError('INSEL_STORE_INVALID'));
      } finally {
        await other.close();
      }
    }));
  });
}

/** race-child.js on the database (argv: its options, the suite's clock), reading its stdout line by line. */
function startChild(db: TestDatabase): { process: ChildProcessByStdio<Writable, Readable, null>; line(): Promise<string>; exited: Promise<unknown> } {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./race-child.js', import.meta.url)), JSON.stringify(db.options), String(T0.getTime())],
    { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const exited = once(child, 'exit');
  return {
    process: child,
    exited,
    async line() {
      const next = await lines.next();
      if (next.done === true) throw new Error('the child process ended without a line (its stderr says why)');
      return String(next.value);
    },
  };
}

function assertOneWinner(results: RedeemResult[]): void {
  assert.equal(results.filter((x) => x.ok).length, 1, 'exactly one redeem wins');
  assert.deepEqual(results.filter((x) => !x.ok).map((x) => !x.ok && x.why), Array(49).fill('used'));
}
