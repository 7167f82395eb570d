// Two HQs on one PostgreSQL database (INSEL_TEST_PG; required under CI=true),
// each with its own copy of the HQ directory: HQ keeps no state outside the
// database, so a site enrolled at one works at the other, and a revocation
// made through one reaches a gateway subscribed at the other within 1 s.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { waitUntil } from '../../net/testing.js';
import { makePostgresDatabase, testPostgres, type TestDatabase } from '../../store/testing.js';
import type { OrgEventMessage } from '../wire/hq-api.js';
import { revokeIdentity } from './admin.js';
import { runTestHq, startTestHq, type TestHq } from './testing.js';

const postgres = await testPostgres();

describe('two HQs on one PostgreSQL', { skip: 'skip' in postgres ? postgres.skip : false }, () => {
  let db: TestDatabase;
  let one: TestHq;
  let two: TestHq;
  let copy: string;

  before(async () => {
    db = await makePostgresDatabase((postgres as { url: string }).url)();
    one = await startTestHq({ database: db.options.database });
    copy = join(mkdtempSync(join(tmpdir(), 'insel-hq2-')), 'hq');
    cpSync(one.dir, copy, { recursive: true });
    two = await runTestHq(copy, true);
  });
  after(async () => {
    await two?.close();
    await one?.close();
    await db?.cleanup();
    rmSync(join(copy, '..'), { recursive: true, force: true });
  });

  it('a site enrolled through one registers at the other; a revocation through one reaches a gateway subscribed at the other within 1 s', async () => {
    const site = await one.enrollSite('branch', ['eng']);
    await one.enrollSite('doomed');
    const link = two.link(site.identity);
    const got: OrgEventMessage[] = [];
    link.onEvent((e) => got.push(e));
    await link.register({ site: 'branch', public: '127.0.0.1:17444', services: [{ name: 'web', proto: 'tcp', groups: ['eng'] }] });
    assert.ok(await waitUntil(() => two.server.subscribers === 1, 5000));
    assert.equal((await one.ctx.registry.site('branch'))?.status, 'online');

    const started = Date.now();
    await revokeIdentity(one.ctx, 'site', 'doomed', 'decommissioned');
    assert.ok(await waitUntil(() => got.some((e) => e.kind === 'revoked'), 5000), 'the revocation arrives');
    const elapsed = Date.now() - started;
    const e = got.find((x) => x.kind === 'revoked') as Extract<OrgEventMessage, { kind: 'revoked' }>;
    assert.deepEqual(e.names, [{ role: 'site', name: 'doomed' }]);
    assert.equal(e.reason, 'decommissioned');
    assert.ok(elapsed < 1000, `took ${elapsed} ms`);
  });
});
