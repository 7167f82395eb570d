// The HQ link across an HQ restart: while HQ is down, requests fail at once
// with HqUnavailableError naming HQ's address and the cause; when HQ is
// back the link re-registers and re-subscribes by itself, and pushed events
// arrive again.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { waitUntil } from '../../net/testing.js';
import { loadHqConfig } from '../hq/config.js';
import { revokeIdentity } from '../hq/admin.js';
import { HqServer } from '../hq/server.js';
import { startTestHq, type TestHq } from '../hq/testing.js';
import { HqUnavailableError } from './errors.js';
import type { OrgEventMessage } from './hq-api.js';

let t: TestHq;
before(async () => (t = await startTestHq()));
after(() => t.close());

test('HQ down: requests fail naming HQ; HQ back: the link re-registers and re-subscribes', async () => {
  const { identity } = await t.enrollSite('branch');
  await t.enrollSite('doomed');
  const link = t.link(identity);
  const got: OrgEventMessage[] = [];
  link.onEvent((e) => got.push(e));
  await link.register({ site: 'branch', public: '127.0.0.1:17444', services: [] });
  assert.ok(await waitUntil(() => t.server.subscribers === 1, 5000));

  await t.server.close();
  assert.ok(await waitUntil(() => !link.connected, 5000));
  await assert.rejects(link.heartbeat(), (e: unknown) => e instanceof HqUnavailableError && e.message.startsWith(`HQ at 127.0.0.1:${t.hq.port} is unreachable: `));

  // the site goes offline meanwhile; the re-registration brings it back
  await t.ctx.registry.setSiteStatus('branch', 'offline');
  const config = loadHqConfig(t.dir);
  const again = await HqServer.start(t.ctx, { ...config, listen: { host: '127.0.0.1', port: t.hq.port } });
  try {
    assert.ok(await waitUntil(() => link.connected && again.subscribers === 1, 10_000), 'reconnected and subscribed');
    assert.equal((await t.ctx.registry.site('branch'))?.status, 'online');
    await revokeIdentity(t.ctx, 'site', 'doomed', 'test');
    assert.ok(await waitUntil(() => got.some((e) => e.kind === 'revoked'), 5000));
  } finally {
    link.close();
    await again.close();
  }
});
