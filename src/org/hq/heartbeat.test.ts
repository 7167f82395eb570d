// Heartbeats: a registered site is online and its link reports at the
// interval HQ gave; silent for 3 intervals, HQ marks it offline and
// authorizations for its services are refused as "site down".
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { OrgRefusedError } from '../wire/errors.js';
import { startTestHq, type TestHq } from './testing.js';

let t: TestHq;
before(async () => (t = await startTestHq({ heartbeat: '200ms' })));
after(() => t.close());

async function statusBecomes(site: string, status: string, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if ((await t.ctx.registry.site(site))?.status === status) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

test('the link sends heartbeats by itself; a site silent for 3 intervals goes offline', async () => {
  const users = await t.enrollSite('branch', ['eng']);
  const svc = await t.enrollSite('main');
  const b = t.link(users.identity);
  const m = t.link(svc.identity);
  await b.register({ site: 'branch', public: '127.0.0.1:1', services: [] });
  const r = await m.register({ site: 'main', public: '127.0.0.1:2', services: [{ name: 'web', proto: 'tcp', groups: ['eng'] }] });
  assert.equal(r.heartbeatMs, 200);
  const registered = (await t.ctx.registry.site('main'))!.lastHeartbeat!.getTime();
  await b.userCode('alice', ['eng'], 3600);
  // the link reports by itself
  const end = Date.now() + 5000;
  while (((await t.ctx.registry.site('main'))?.lastHeartbeat?.getTime() ?? 0) <= registered && Date.now() < end) await new Promise((res) => setTimeout(res, 50));
  assert.ok((await t.ctx.registry.site('main'))!.lastHeartbeat!.getTime() > registered, 'a heartbeat after the registration');
  m.close();
  assert.ok(await statusBecomes('main', 'offline', 5000));
  assert.equal((await t.ctx.registry.site('branch'))?.status, 'online');
  await assert.rejects(b.authorize({ name: 'alice', site: 'branch', groups: ['eng'], serial: '1' }, 'web@main'), (e: unknown) => e instanceof OrgRefusedError && e.code === 'INSEL_ORG_SITE_DOWN');
});
