// Calls (seed 000 §6) on loopback with real sockets:
//
//   alice's app ─► insel call bob@site-b ══► site A ══ relay (ticket, via a proxy) ══► site B ◄══ insel answer ◄─ bob's app
//   (P)            (call:<id>, caller)        HQ authorize                      meeting point   (call:<id>, callee)   (Q)
//
// bob's agent gets the invitation over insel/1 (GET /insel/v1/calls); the
// datagrams of both legs are joined at bob's site; the call ends at both
// ends when one side stops. Attacks: another user's answer, a forged call
// id, a flood of invitations.
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:dgram';
import type { ForwardSession } from '../../forward/session.js';
import { agent, checkAnswer, invite, openUdp } from './client.js';
import { MAX_PENDING_PER_CALLER } from './hq-calls.js';
import type { Invitation } from './site-calls.js';
import { bound, closeSocket, FakeHq, inBetween, LOOP, makeOrgPki, pump, startSite, userSession, waitFor, type OrgPki, type TestSite } from './testing.js';

let pki: OrgPki;
before(async () => {
  pki = await makeOrgPki([
    { name: 'alice', site: 'site-a', groups: ['eng'] },
    { name: 'mallory', site: 'site-a', groups: ['eng'] },
    { name: 'bob', site: 'site-b', groups: ['eng'] },
    { name: 'eve', site: 'site-b', groups: ['eng'] },
  ]);
});
after(() => pki.cleanup());

const MARKER = 'CALL-PLAINTEXT-9c1e';

async function setup(t: TestContext) {
  const hq = new FakeHq();
  for (const [name, site] of [
    ['alice', 'site-a'],
    ['mallory', 'site-a'],
    ['bob', 'site-b'],
    ['eve', 'site-b'],
  ] as const)
    hq.users.set(name, { name, site, status: 'active' });
  const a = await startSite(pki, hq, 'site-a');
  t.after(() => a.close());
  const b = await startSite(pki, hq, 'site-b');
  t.after(() => b.close());
  return { hq, a, b };
}

async function session(t: TestContext, site: TestSite, user: string): Promise<ForwardSession> {
  const s = await userSession(pki, site, user);
  t.after(() => s.close());
  return s;
}

async function media(t: TestContext, s: ForwardSession, site: TestSite, user: string, callId: string) {
  const closed: string[] = [];
  const denied: string[] = [];
  const fwd = await openUdp({ session: s, via: { host: LOOP, port: site.ctlPort }, site: site.name, identity: pki.profile(user), service: `call:${callId}`, bind: LOOP, port: 0, onFlowClosed: (r) => closed.push(r) });
  t.after(() => fwd.close());
  void fwd.denial.then((r) => denied.push(r));
  const app = await bound();
  t.after(() => closeSocket(app));
  return { fwd, app, closed, denied };
}

/** Sequence numbers of datagrams carrying `marker` that reached `app`. */
function counter(app: Socket, marker: string): Set<number> {
  const seen = new Set<number>();
  app.on('message', (m: Buffer) => {
    if (m.length >= 4 + marker.length && m.toString('latin1', 4, 4 + marker.length) === marker) seen.add(m.readUInt32BE(0));
  });
  return seen;
}

async function ring(t: TestContext, a: TestSite, b: TestSite) {
  const bobCtl = await session(t, b, 'bob');
  const invitations: Invitation[] = [];
  const bobAgent = await agent(bobCtl, (inv) => invitations.push(inv));
  t.after(() => bobAgent.stop());
  const aliceCtl = await session(t, a, 'alice');
  const { callId } = await invite(aliceCtl, 'bob@site-b');
  await waitFor(() => invitations.length > 0, 5_000);
  return { bobCtl, aliceCtl, invitations, callId };
}

describe('calls between sites', () => {
  it("alice calls bob: bob's agent is invited, he answers, 5,000 datagrams each way through both site gateways, sealed between them", async (t) => {
    const { hq, a, b } = await setup(t);
    const proxy = await inBetween(b.udpPort, b.udpDataPort, MARKER);
    t.after(() => proxy.close());
    hq.sites.set('site-b', { ...hq.sites.get('site-b')!, udp: proxy.address });

    const { bobCtl, aliceCtl, invitations, callId } = await ring(t, a, b);
    assert.equal(invitations.length, 1);
    assert.equal(invitations[0]!.callId, callId);
    assert.equal(invitations[0]!.from, 'alice@site-a');
    t.diagnostic(`bob's agent: call ${callId} from ${invitations[0]!.from}`);
    assert.equal((await checkAnswer(bobCtl, callId)).from, 'alice@site-a');

    const alice = await media(t, aliceCtl, a, 'alice', callId);
    const bob = await media(t, bobCtl, b, 'bob', callId);
    const atBob = counter(bob.app, `${MARKER}-A`);
    const atAlice = counter(alice.app, `${MARKER}-B`);
    // Both legs up: each side's first datagram opens its flow; the meeting point joins them.
    alice.app.send('hello', alice.fwd.port, LOOP);
    bob.app.send('hello', bob.fwd.port, LOOP);
    await waitFor(() => b.gateway.stats().flows === 2, 5_000);
    assert.equal(b.gateway.stats().flows, 2, "the caller's relay and the callee's flow meet at site-b");
    const N = 5_000;
    const [lostToBob, lostToAlice] = await Promise.all([pump(alice.app, alice.fwd.port, N, `${MARKER}-A`, () => atBob.size), pump(bob.app, bob.fwd.port, N, `${MARKER}-B`, () => atAlice.size)]);
    t.diagnostic(`alice → bob: ${atBob.size}/${N} (lost ${lostToBob}, ${((100 * lostToBob) / N).toFixed(2)} %); bob → alice: ${atAlice.size}/${N} (lost ${lostToAlice}, ${((100 * lostToAlice) / N).toFixed(2)} %)`);
    t.diagnostic(`between the sites: ${proxy.datagrams()} datagrams, ${proxy.plaintext()} with the marker in the clear`);
    assert.ok(lostToBob < N / 100, `alice → bob loss under 1 % (lost ${lostToBob})`);
    assert.ok(lostToAlice < N / 100, `bob → alice loss under 1 % (lost ${lostToAlice})`);
    assert.ok(proxy.datagrams() >= 2 * N - lostToBob - lostToAlice, 'the call went through the proxy between the sites');
    assert.equal(proxy.plaintext(), 0);
    assert.deepEqual([alice.denied, bob.denied], [[], []]);

    // alice hangs up: bob's side ends with the reason.
    await alice.fwd.close();
    await waitFor(() => bob.closed.length > 0, 5_000);
    t.diagnostic(`bob's end: ${bob.closed.join('; ')}`);
    assert.match(bob.closed[0] ?? '', /alice@site-a left the call/);
    await waitFor(() => b.calls.size === 0, 5_000);
    assert.equal(b.calls.size, 0);
  });

  it("refuses another user's answer, a stranger's media and a forged call id", async (t) => {
    const { a, b } = await setup(t);
    const { callId } = await ring(t, a, b);
    const eveCtl = await session(t, b, 'eve');
    await assert.rejects(checkAnswer(eveCtl, callId), /call .* is not for eve@site-b/);
    await assert.rejects(checkAnswer(eveCtl, 'aaaaaaaaaaaaaaaaaaaaaaaaaa'), /no call aaaaaaaaaaaaaaaaaaaaaaaaaa is ringing/);

    const refusals: [string, TestSite, string, RegExp][] = [
      ['eve', b, callId, /eve@site-b is not the caller/],
      ['mallory', a, callId, /mallory@site-a is not the caller/],
      ['mallory', a, 'bbbbbbbbbbbbbbbbbbbbbbbbbb', /no call call:bbbbbbbbbbbbbbbbbbbbbbbbbb is ringing/],
    ];
    for (const [user, site, id, why] of refusals) {
      const ctl = await session(t, site, user);
      const m = await media(t, ctl, site, user, id);
      m.app.send('hello', m.fwd.port, LOOP);
      await waitFor(() => m.denied.length > 0, 5_000);
      t.diagnostic(`${user} joining call:${id.slice(0, 6)}…: ${m.denied[0]}`);
      assert.match(m.denied[0] ?? '', why);
    }
    // bob may still answer: the attempts took nothing from him.
    assert.equal(b.calls.size, 1);
  });

  it(`bounds invitations: a caller has at most ${MAX_PENDING_PER_CALLER} calls ringing`, async (t) => {
    const { a, b } = await setup(t);
    const bobCtl = await session(t, b, 'bob');
    const invitations: Invitation[] = [];
    const bobAgent = await agent(bobCtl, (inv) => invitations.push(inv));
    t.after(() => bobAgent.stop());
    const aliceCtl = await session(t, a, 'alice');
    let ok = 0;
    const errors: string[] = [];
    for (let i = 0; i < 20; i++) {
      try {
        await invite(aliceCtl, 'bob@site-b');
        ok++;
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    await waitFor(() => invitations.length >= ok, 5_000);
    t.diagnostic(`20 invitations: ${ok} rang, ${errors.length} refused: ${errors[0]}`);
    assert.equal(ok, MAX_PENDING_PER_CALLER);
    assert.match(errors[0] ?? '', /calls ringing already \(limit 4\)/);
    assert.equal(invitations.length, MAX_PENDING_PER_CALLER);
    const malloryCtl = await session(t, a, 'mallory');
    await assert.rejects(invite(malloryCtl, 'nobody@site-b'), /no user nobody@site-b/);
    await assert.rejects(invite(malloryCtl, 'bob'), /is not a user: write name@site/);
  });
});
