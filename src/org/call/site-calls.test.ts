// SiteCalls alone, with a clock of its own: what a flood of HQ events, of
// agents or of legs can make a site hold, and how an unanswered call ends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TargetEvents } from '../../udpflow/target.js';
import type { OrgUser } from '../wire/hq-api.js';
import { RING_MS } from './hq-calls.js';
import { MAX_AGENTS_PER_USER, MAX_INVITES_PER_USER, SiteCalls, type Invitation } from './site-calls.js';

const bob: OrgUser = { name: 'bob', site: 'b', groups: [], serial: '1' };
const alice: OrgUser = { name: 'alice', site: 'a', groups: [], serial: '2' };
const quiet = { info: () => undefined, warn: () => undefined };

function calls(now: { t: number }): SiteCalls {
  return new SiteCalls({ site: 'b', hq: { callUser: () => Promise.reject(new Error('not here')) }, log: quiet, now: () => now.t });
}

function ring(c: SiteCalls, id: string, to = 'bob@b'): void {
  c.onEvent({ kind: 'call', callId: id, from: 'alice@a', to, fromSite: 'a', service: `call:${id}` });
}

function leg(): { events: TargetEvents; got: Buffer[]; ended: string[] } {
  const got: Buffer[] = [];
  const ended: string[] = [];
  return { got, ended, events: { message: (d) => void got.push(d), error: () => undefined, ended: (r) => void ended.push(r) } };
}

test('invitations: at most MAX_INVITES_PER_USER ring per callee; other sites’ users are not ours', () => {
  const now = { t: 0 };
  const c = calls(now);
  for (let i = 0; i < 3 * MAX_INVITES_PER_USER; i++) ring(c, `id${i}`);
  ring(c, 'elsewhere', 'bob@other');
  assert.equal(c.size, MAX_INVITES_PER_USER);
  const seen: Invitation[] = [];
  c.addAgent(bob, { send: (inv) => (seen.push(inv), true), close: () => undefined });
  assert.equal(seen.length, MAX_INVITES_PER_USER);
  c.close();
});

test('agents: at most MAX_AGENTS_PER_USER per user; one that does not read is closed', () => {
  const c = calls({ t: 0 });
  const closed: string[] = [];
  for (let i = 0; i < MAX_AGENTS_PER_USER; i++) c.addAgent(bob, { send: () => i !== 0, close: (r) => void closed.push(r) });
  assert.throws(() => c.addAgent(bob, { send: () => true, close: () => undefined }), /limit 4/);
  assert.throws(() => c.addAgent(alice, { send: () => true, close: () => undefined }), /not a user of site b/);
  ring(c, 'x');
  assert.deepEqual(closed, ['agent does not read its invitations']);
  c.close();
});

test('legs: joined both ways; an unanswered call ends after RING_MS and its caller is told', () => {
  const now = { t: 0 };
  const c = calls(now);
  ring(c, 'one');
  const caller = leg();
  const v1 = c.caller('one', alice, 'a', caller.events);
  assert.ok(v1.allow);
  assert.ok(!c.caller('one', alice, 'a', leg().events).allow, 'one caller leg');
  assert.ok(!c.caller('one', { ...alice, name: 'mallory' }, 'a', leg().events).allow, 'only the caller');
  assert.ok(!c.callee('one', { ...bob, name: 'eve' }, leg().events).allow, 'only the callee');
  const callee = leg();
  const v2 = c.callee('one', bob, callee.events);
  assert.ok(v2.allow);
  assert.ok(!c.callee('one', bob, leg().events).allow, 'answered once');
  v1.target.send(Buffer.from('to bob'));
  v2.target.send(Buffer.from('to alice'));
  assert.equal(callee.got[0]?.toString(), 'to bob');
  assert.equal(caller.got[0]?.toString(), 'to alice');
  v2.target.close();
  assert.deepEqual(caller.ended, ['bob@b left the call']);
  assert.equal(c.size, 0);

  ring(c, 'two');
  const waiting = leg();
  assert.ok(c.caller('two', alice, 'a', waiting.events).allow);
  now.t += RING_MS + 1;
  ring(c, 'three'); // any event sweeps
  assert.deepEqual(waiting.ended, [`call not answered within ${RING_MS / 1000} s`]);
  assert.equal(c.size, 1);
  c.close();
});
