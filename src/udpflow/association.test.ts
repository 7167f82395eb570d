// The gateway's association alone, with a policy written here: what a
// hostile client can make it hold is bounded (destinations, authorizations
// in flight, queued bytes), replies come only from destinations it allowed,
// and a reload's refusal takes effect on destinations already allowed.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { encodeAddress, readAddress } from '../socks/address.js';
import { until } from '../forward/testing.js';
import { Association, type DestinationAuthorize } from './association.js';

const LOOP = '127.0.0.1';

function harness(t: TestContext, authorize: DestinationAuthorize, maxDestinations?: number) {
  const drops: Record<string, number> = {};
  const denied: string[] = [];
  const replies: Buffer[] = [];
  const a = new Association({
    authorize,
    idleMs: 60_000,
    drop: (why) => void (drops[why] = (drops[why] ?? 0) + 1),
    denied: (to, reason) => void denied.push(`${to}: ${reason}`),
    events: { message: (m) => void replies.push(Buffer.from(m)), error: () => undefined, ended: () => undefined },
    ...(maxDestinations === undefined ? {} : { maxDestinations }),
  });
  t.after(() => a.close());
  const send = (host: string, port: number, data: string) => a.send(Buffer.concat([encodeAddress(host, port), Buffer.from(data)]));
  return { a, drops, denied, replies, send };
}

async function echo(t: TestContext): Promise<{ s: Socket; port: number; from: { port: number }[] }> {
  const s = createSocket('udp4');
  const from: { port: number }[] = [];
  s.on('message', (m, r) => {
    from.push({ port: r.port });
    s.send(m, r.port, r.address);
  });
  await new Promise<void>((r) => s.bind(0, LOOP, () => r()));
  t.after(() => s.close());
  return { s, port: s.address().port, from };
}

const allowAll: DestinationAuthorize = (host) => Promise.resolve({ allow: true, address: host === 'localhost' ? LOOP : host });

describe('a SOCKS UDP association at the gateway', () => {
  it('sends from one socket to every destination and returns replies with their source', async (t) => {
    const e1 = await echo(t);
    const e2 = await echo(t);
    const h = harness(t, allowAll);
    h.send('localhost', e1.port, 'one');
    h.send(LOOP, e2.port, 'two');
    await until(() => h.replies.length === 2, 'two replies');
    const sources = h.replies.map((r) => readAddress(r, 0)!.address.port).sort();
    assert.deepEqual(sources, [e1.port, e2.port].sort());
    assert.equal(e1.from[0]!.port, e2.from[0]!.port, 'one socket for both destinations');
    assert.equal(h.a.destinations, 2);
  });

  it('takes replies only from destinations it allowed: a stranger sending to its port is dropped', async (t) => {
    const e = await echo(t);
    const h = harness(t, allowAll);
    h.send(LOOP, e.port, 'hello');
    await until(() => h.replies.length === 1, 'the reply');
    const stranger = createSocket('udp4');
    t.after(() => stranger.close());
    for (let i = 0; i < 3; i++) stranger.send('injected', e.from[0]!.port, LOOP);
    await until(() => h.drops.unknown_source === 3, 'three stranger datagrams dropped');
    assert.equal(h.replies.length, 1);
  });

  it('bounds what a client can make it hold: destinations, authorizations in flight, queued datagrams', async (t) => {
    let inFlight = 0;
    let most = 0;
    const waiting: (() => void)[] = [];
    const slow: DestinationAuthorize = () => {
      most = Math.max(most, ++inFlight);
      return new Promise((resolve) => waiting.push(() => (inFlight--, resolve({ allow: false, reason: 'not today' }))));
    };
    const h = harness(t, slow, 100);
    for (let port = 1; port <= 150; port++) for (let i = 0; i < 6; i++) h.send('10.0.0.1', port, 'x');
    assert.equal(h.a.destinations, 100);
    assert.equal(h.drops.too_many_destinations, 50 * 6);
    assert.equal(h.drops.queue_full, 100 * 2, 'four datagrams queued per destination, the rest dropped');
    assert.equal(most, 16, 'authorizations run 16 at a time');
    while (waiting.length > 0) {
      waiting.shift()!();
      await new Promise((r) => setImmediate(r));
    }
    await until(() => h.denied.length === 100, 'every destination decided');
    assert.equal(h.drops.destination_denied, 100 * 4, 'the queued datagrams of a denied destination are dropped and counted');
    assert.match(h.denied[0]!, /^10\.0\.0\.1:\d+: not today$/);
  });

  it('a refusal by a passing limit (DNS lookups in flight) is not remembered: the next datagram asks again', async (t) => {
    let asked = 0;
    const h = harness(t, () => Promise.resolve(++asked === 1 ? { allow: false, reason: 'too many DNS lookups in flight', busy: true } : { allow: false, reason: 'no rule' }));
    h.send('dns.example', 53, 'q1');
    await until(() => h.drops.authorize_busy === 1, 'the busy refusal');
    assert.deepEqual([h.a.destinations, h.denied.length], [0, 0]);
    h.send('dns.example', 53, 'q2');
    await until(() => h.denied.length === 1, 'the policy refusal');
    assert.deepEqual([asked, h.denied[0]], [2, 'dns.example:53: no rule']);
  });

  it('a reload that refuses an allowed destination denies it from then on', async (t) => {
    const e = await echo(t);
    const h = harness(t, allowAll);
    h.send(LOOP, e.port, 'before');
    await until(() => h.replies.length === 1, 'the reply');
    assert.equal(h.a.recheck((_host, port) => (port === e.port ? 'policy reloaded: no more' : undefined)), 1);
    h.send(LOOP, e.port, 'after');
    assert.equal(h.drops.destination_denied, 1);
    assert.deepEqual(h.denied, [`${LOOP}:${e.port}: policy reloaded: no more`]);
  });
});
