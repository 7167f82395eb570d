// HQ's call handler alone, over registry rows and a clock of its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SiteRow, UserRow } from '../../store/types.js';
import type { OrgEventMessage, OrgUser } from '../wire/hq-api.js';
import { HqCalls, RING_MS, registryLookups } from './hq-calls.js';

const alice: OrgUser = { name: 'alice', site: 'a', groups: [], serial: '1' };

function setup() {
  const now = { t: 1_000_000 };
  const users = new Map<string, UserRow>();
  const sites = new Map<string, SiteRow>();
  const row = (name: string, site: string, status: UserRow['status'] = 'active') => users.set(name, { name, site, groups: [], status, createdAt: new Date(0) });
  row('alice', 'a');
  row('bob', 'b');
  row('gone', 'b', 'revoked');
  for (const [name, status, udp] of [
    ['a', 'online', '10.0.0.1:7445'],
    ['b', 'online', '10.0.0.2:7445'],
    ['c', 'offline', '10.0.0.3:7445'],
    ['d', 'online', null],
  ] as const)
    sites.set(name, { name, public: `${name}:7444`, udp, status, lastHeartbeat: null, groups: [] });
  row('carl', 'c');
  row('dora', 'd');
  const pushed: OrgEventMessage[] = [];
  const tickets: string[] = [];
  const calls = new HqCalls({
    ...registryLookups({ user: async (n) => users.get(n), site: async (n) => sites.get(n) }),
    mintTicket: async (u, service, target) => {
      tickets.push(`${u.name} ${service} ${target}`);
      return 'id.secret';
    },
    push: (e) => void pushed.push(e),
    now: () => now.t,
  });
  return { now, users, calls, pushed, tickets };
}

test('call: the caller must be an active user of the asking site; the callee active, at an online site with UDP', async () => {
  const { calls, pushed, users } = setup();
  await assert.rejects(calls.call('b', alice, 'bob@b'), /site b cannot call for alice@a/);
  await assert.rejects(calls.call('a', { ...alice, name: 'mallory' }, 'bob@b'), /site a cannot call for mallory@a/);
  await assert.rejects(calls.call('a', alice, 'bob@a'), /no user bob@a/);
  await assert.rejects(calls.call('a', alice, 'gone@b'), /gone@b is revoked/);
  await assert.rejects(calls.call('a', alice, 'carl@c'), /site c is offline or takes no UDP relays/);
  await assert.rejects(calls.call('a', alice, 'dora@d'), /site d is offline or takes no UDP relays/);
  await assert.rejects(calls.call('a', alice, 'bob@b\n'), /is not a user: write name@site/);
  const r = await calls.call('a', alice, 'bob@b');
  assert.match(r.callId, /^[a-z2-7]{26}$/);
  assert.deepEqual(pushed, [{ kind: 'call', callId: r.callId, from: 'alice@a', to: 'bob@b', fromSite: 'a', service: `call:${r.callId}` }]);
  users.set('alice', { ...users.get('alice')!, status: 'revoked' });
  await assert.rejects(calls.call('a', alice, 'bob@b'), /alice@a is revoked/);
});

test('authorize: only the caller, through its site, while the call rings; the ticket goes to the callee site', async () => {
  const { calls, now, tickets } = setup();
  const { callId } = await calls.call('a', alice, 'bob@b');
  await assert.rejects(calls.authorize('b', { name: 'bob', site: 'b', groups: [], serial: '2' }, `call:${callId}`), /bob@b is not the caller/);
  await assert.rejects(calls.authorize('b', alice, `call:${callId}`), /site b cannot call for alice@a/);
  await assert.rejects(calls.authorize('a', alice, `xcall:${callId}`), /no call/);
  const auth = await calls.authorize('a', alice, `call:${callId}`);
  assert.deepEqual(auth, { ticket: 'id.secret', site: { name: 'b', public: 'b:7444', udp: '10.0.0.2:7445' }, service: { name: `call:${callId}`, proto: 'udp' } });
  assert.deepEqual(tickets, [`alice call:${callId} b`]);
  now.t += RING_MS;
  await assert.rejects(calls.authorize('a', alice, `call:${callId}`), /no call .* is ringing/);
  assert.equal(calls.ringing, 0);
});
