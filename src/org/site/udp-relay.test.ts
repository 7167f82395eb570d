// UDP services across sites, on loopback with real sockets:
//
//   app ──► insel open rtp@site-b ══ UDP channel ══► site A ══ UDP channel (site certs) ══► site B ──► UDP echo
//   (127.0.0.1:*)  (openUdp, alice)    (user cert)    (relay,     via an in-between proxy     (ticket,     (127.0.0.1:echo,
//                                                      HQ authorize)  on 127.0.0.2)            local rules)  from B's config)
//
// HQ is the in-memory one of call/testing.ts (the HqApi contract); the
// site gateways are their UDP parts (UdpGateway + UdpRelay + UdpPeers).
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:dgram';
import { openUdp } from '../call/client.js';
import { bound, closeSocket, FakeHq, inBetween, LOOP, makeOrgPki, pump, startSite, udpEcho, userSession, waitFor, type OrgPki, type TestSite } from '../call/testing.js';
import type { UdpLocalForward } from '../../udpflow/local.js';

let pki: OrgPki;
before(async () => {
  pki = await makeOrgPki([
    { name: 'alice', site: 'site-a', groups: ['eng'] },
    { name: 'carol', site: 'site-a', groups: ['guest'] },
    { name: 'bob', site: 'site-b', groups: ['eng'] },
  ]);
});
after(() => pki.cleanup());

const MARKER = 'PLAINTEXT-MARKER-7f3a';

async function setup(t: TestContext, echoPort: number, atA: { maxFlowsPerUser?: number; idleMs?: number } = {}) {
  const hq = new FakeHq();
  hq.services.set('rtp@site-b', { proto: 'udp', groups: ['eng'] });
  hq.services.set('closed@site-b', { proto: 'udp', groups: ['eng'] });
  hq.services.set('web@site-b', { proto: 'tcp', groups: ['eng'] });
  const a = await startSite(pki, hq, 'site-a', atA);
  t.after(() => a.close());
  const b = await startSite(pki, hq, 'site-b', {
    services: [
      { name: 'rtp', proto: 'udp', host: LOOP, port: echoPort },
      { name: 'closed', proto: 'udp', host: LOOP, port: echoPort },
    ],
    localCheck: (user, service, site) => (service === 'closed' ? `site-b's local rules allow no one ${service}@${site} (asked by ${user.name}@${user.site})` : undefined),
  });
  t.after(() => b.close());
  return { hq, a, b };
}

async function open(t: TestContext, site: TestSite, user: string, service: string): Promise<{ fwd: UdpLocalForward; app: Socket; lines: string[]; closed: string[] }> {
  const session = await userSession(pki, site, user);
  t.after(() => session.close());
  const lines: string[] = [];
  const closed: string[] = [];
  const fwd = await openUdp({ session, via: { host: LOOP, port: site.ctlPort }, site: site.name, identity: pki.profile(user), service, bind: LOOP, port: 0, log: (l) => lines.push(l), onFlowClosed: (r) => closed.push(r) });
  t.after(() => fwd.close());
  const app = await bound();
  t.after(() => closeSocket(app));
  return { fwd, app, lines, closed };
}

describe('UDP services across sites', () => {
  it('insel open rtp@site-b: 5,000 datagrams each way through both site gateways, sealed between the sites', async (t) => {
    const echo = await udpEcho();
    t.after(() => echo.close());
    const { hq, a, b } = await setup(t, echo.port);
    const proxy = await inBetween(b.udpPort, b.udpDataPort, MARKER);
    t.after(() => proxy.close());
    hq.sites.set('site-b', { ...hq.sites.get('site-b')!, udp: proxy.address });

    const { fwd, app } = await open(t, a, 'alice', 'rtp@site-b');
    const seen = new Set<number>();
    let corrupt = 0;
    app.on('message', (m: Buffer) => {
      if (!m.includes(MARKER)) corrupt++;
      seen.add(m.readUInt32BE(0));
    });
    const N = 5_000;
    const lost = await pump(app, fwd.port, N, MARKER, () => seen.size);
    const up = echo.received();
    t.diagnostic(`sent ${N}: echo got ${up} (lost on the way there ${N - up}), back ${seen.size} (lost in all ${lost}, ${((100 * lost) / N).toFixed(2)} %), corrupt ${corrupt}`);
    t.diagnostic(`between the sites: ${proxy.datagrams()} datagrams, ${proxy.plaintext()} with the marker in the clear`);
    assert.ok(lost < N / 100, `loss under 1 % (lost ${lost})`);
    assert.equal(corrupt, 0);
    assert.ok(proxy.datagrams() >= 2 * (N - lost), 'both directions went through the proxy between the sites');
    assert.equal(proxy.plaintext(), 0, 'no datagram between the sites carries the marker in the clear');
    assert.equal(a.gateway.stats().flows, 1);
    assert.equal(b.gateway.stats().flows, 1);
    assert.equal(hq.claims.filter((c) => c.ok).length, 1, 'one ticket, claimed once by site-b');
  });

  it("refuses a service that HQ's groups or the target site's local rules deny, with the reason at the user", async (t) => {
    const echo = await udpEcho();
    t.after(() => echo.close());
    const { a } = await setup(t, echo.port);
    const cases: [string, string, RegExp][] = [
      ['carol', 'rtp@site-b', /none of rtp@site-b's groups/],
      ['alice', 'closed@site-b', /site-b's local rules allow no one closed@site-b/],
      ['alice', 'web@site-b', /is a tcp service/],
      ['alice', 'nothing@site-b', /no service nothing@site-b/],
    ];
    for (const [user, service, why] of cases) {
      const { fwd, app } = await open(t, a, user, service);
      app.send('knock', fwd.port, LOOP);
      const reason = await Promise.race([fwd.denial, new Promise<string>((r) => setTimeout(() => r('no denial in 5 s'), 5_000))]);
      t.diagnostic(`${user} → ${service}: ${reason}`);
      assert.match(reason, why);
    }
    assert.equal(echo.received(), 0, 'nothing reached the service');
  });

  it('bounds the flows one user holds at its site; an idle flow ends at both sites', async (t) => {
    const echo = await udpEcho();
    t.after(() => echo.close());
    const { a, b } = await setup(t, echo.port, { maxFlowsPerUser: 2, idleMs: 1_000 });
    const { fwd } = await open(t, a, 'alice', 'rtp@site-b');
    const apps: Socket[] = [];
    for (let i = 0; i < 3; i++) {
      const app = await bound();
      t.after(() => closeSocket(app));
      apps.push(app);
      app.send(`hello ${i}`, fwd.port, LOOP);
      await waitFor(() => a.gateway.stats().flows + a.gateway.stats().denied > i, 5_000);
    }
    const reason = await fwd.denial;
    t.diagnostic(`third source: ${reason}`);
    assert.match(reason, /alice@site-a holds too many UDP relays at site site-a \(limit 2\)/);
    await waitFor(() => b.relay.flows() === 2, 5_000);
    assert.equal(a.relay.flows(), 2);
    assert.equal(b.relay.flows(), 2);
    // Nothing more is sent: site A's idle timer ends both flows, and the relays at site B with them.
    await waitFor(() => b.gateway.stats().flows === 0, 10_000);
    assert.deepEqual([a.gateway.stats().flows, b.gateway.stats().flows, a.relay.flows(), b.relay.flows()], [0, 0, 0, 0]);
    assert.equal(a.gateway.stats().expired, 2);
  });

  it("HQ's revocation of a user ends its relays at both sites, with the reason at the user", async (t) => {
    const echo = await udpEcho();
    t.after(() => echo.close());
    const { hq, a, b } = await setup(t, echo.port);
    const { fwd, app, closed } = await open(t, a, 'alice', 'rtp@site-b');
    let back = 0;
    app.on('message', () => back++);
    app.send('hello', fwd.port, LOOP);
    await waitFor(() => back === 1, 5_000);
    for (const fn of hq.listeners) fn({ kind: 'revoked', serials: [], names: [{ role: 'user', name: 'alice' }], crl: '', reason: 'keyCompromise' });
    await waitFor(() => closed.length > 0 && b.relay.flows() === 0, 5_000);
    t.diagnostic(`alice's flow: ${closed[0]}`);
    assert.match(closed[0] ?? '', /revoked: keyCompromise/);
    assert.deepEqual([a.relay.flows(), b.relay.flows()], [0, 0]);
  });

  it('a site refuses a ticket twice, one for another site, and one relayed by a site it was not issued to', async (t) => {
    const echo = await udpEcho();
    t.after(() => echo.close());
    const { hq, a, b } = await setup(t, echo.port);
    const alice = { name: 'alice', site: 'site-a', groups: ['eng'], serial: '1' };
    const { UdpPeers } = await import('./udp-peers.js');
    const asA = new UdpPeers({ identity: () => pki.profile('site-a') });
    const asB = new UdpPeers({ identity: () => pki.profile('site-b') });
    t.after(() => asA.close());
    t.after(() => asB.close());
    const events = { message: () => undefined, error: () => undefined, ended: () => undefined };
    const siteB = hq.sites.get('site-b')!;
    const siteA = hq.sites.get('site-a')!;
    const ticket = hq.mint(alice, 'rtp@site-b', 'site-a', 'site-b');
    const first = await asA.open(siteB, 'rtp', ticket, events);
    assert.ok(first.allow);
    first.target.close();
    const again = await asA.open(siteB, 'rtp', ticket, events);
    assert.ok(!again.allow && /ticket refused/.test(again.reason), JSON.stringify(again));
    const forB = hq.mint(alice, 'rtp@site-b', 'site-a', 'site-b');
    const wrongSite = await asB.open(siteA, 'rtp', forB, events);
    assert.ok(!wrongSite.allow && /ticket refused/.test(wrongSite.reason), JSON.stringify(wrongSite));
    const fromA = hq.mint(alice, 'rtp@site-b', 'site-a', 'site-b');
    const stolen = await asB.open(siteB, 'rtp', fromA, events);
    assert.ok(!stolen.allow && /issued for relays from site site-a \(a user of site site-a\), not site-b/.test(stolen.reason), JSON.stringify(stolen));
    await waitFor(() => b.gateway.stats().flows === 0 && a.gateway.stats().flows === 0, 5_000);
    assert.equal(echo.received(), 0);
  });
});
