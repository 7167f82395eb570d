// UDP ASSOCIATE through `insel forward -D` with a real client, Python's
// PySocks (pysocks-testing.ts), gateway and forwarder in this process:
//
//   PySocks ──UDP──► Forwarder -D ══ SecSockets UDP channel ══► Gateway ──► UDP echo(es)
//   (TCP control     (relay socket)   (one association flow)    (one socket,  (127.0.0.1)
//    connection)                                                 policy)
//
// 5,000 DNS-sized datagrams come back with loss reported and their source
// the echo's; one association reaches 10,000 destinations at once; a
// destination the policy denies gets nothing, is counted at the gateway and
// logged once; fragments are dropped. Every wait has a deadline; every
// socket and process is closed in t.after.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ALLOW_ALICE_LOOPBACK, until } from '../forward/testing.js';
import { pysocks, pysocksMissing } from './pysocks-testing.js';
import { socksSetup, udpEchoes } from './e2e-testing.js';

const skip = pysocksMissing();
const LOOP = '127.0.0.1';

interface Exchange {
  answered: number;
  lost: number;
  wrong_source: number;
  wrong_example?: [unknown, unknown];
  corrupt: number;
  late: number;
  relay: [string, number];
  secs: number;
}

describe('UDP ASSOCIATE with PySocks', { skip }, () => {
  it("5,000 DNS-sized datagrams to a UDP echo come back from the echo's address; loss under 1%", async (t) => {
    const echo = await udpEchoes(t, 1);
    const { tg, ports, fw } = await socksSetup(t, ALLOW_ALICE_LOOPBACK);
    const N = 5000;
    const py = pysocks<Exchange>(t, { mode: 'burst', proxy: ports[0]!, host: LOOP, port: echo.ports[0], count: N, window: 32, wait: 2, hold: true }, 60_000);
    const r = await py.result;
    const udp = () => tg.gw.stats().udp;
    t.diagnostic(`sent ${N}, answered ${r.answered}, lost ${r.lost} (${((100 * r.lost) / N).toFixed(2)} %), late ${r.late}, ${r.secs.toFixed(1)} s, ${Math.round(N / r.secs)} round trips/s; relay ${r.relay.join(':')}`);
    t.diagnostic(`gateway udp ${JSON.stringify(udp())}`);
    assert.equal(r.wrong_source, 0, `replies from elsewhere than the echo, e.g. ${JSON.stringify(r.wrong_example)}`);
    assert.equal(r.corrupt, 0);
    assert.ok(r.lost / N < 0.01, `loss ${r.lost} of ${N}`);
    assert.equal(r.relay[0], LOOP, 'the relay address is on the listener’s address');
    assert.ok(echo.received[0]! >= r.answered);
    assert.equal(udp()?.associations, 1);
    assert.equal(udp()?.destinations, 1);
    // The association ends with its TCP control connection.
    await py.release();
    await until(() => udp()?.associations === 0, 'the association to end with its TCP connection', 5000);
    assert.deepEqual(fw.warn.filter((l) => /denied|refused|frag/i.test(l)), []);
  });

  it('one association reaches 10,000 destinations at once (distinct ports), replies from each', async (t) => {
    const N = 10_000;
    const t0 = Date.now();
    const echoes = await udpEchoes(t, N);
    t.diagnostic(`${N} echo sockets bound in ${Date.now() - t0} ms`);
    const { tg, ports } = await socksSetup(t, ALLOW_ALICE_LOOPBACK);
    const py = pysocks<Exchange>(t, { mode: 'flows', proxy: ports[0]!, host: LOOP, ports: echoes.ports, window: 500, wait: 3, hold: true }, 60_000);
    const r = await py.result;
    const udp = tg.gw.stats().udp;
    t.diagnostic(`${N} destinations: answered ${r.answered}, lost ${r.lost}, late ${r.late}, ${r.secs.toFixed(1)} s; gateway udp ${JSON.stringify(udp)}`);
    assert.equal(r.wrong_source, 0, `a reply from elsewhere than its destination, e.g. ${JSON.stringify(r.wrong_example)}`);
    assert.equal(r.corrupt, 0);
    assert.ok(r.answered >= N * 0.99, `${r.answered} of ${N} destinations answered`);
    const reached = echoes.received.filter((n) => n > 0).length;
    assert.ok(reached >= r.answered, `${reached} echoes got a datagram, ${r.answered} answers came back`);
    // All of them at once, while the association lives (well inside the idle timeout).
    assert.equal(udp?.associations, 1);
    assert.ok((udp?.destinations ?? 0) >= N, `the gateway holds ${udp?.destinations} destinations`);
    assert.ok(Date.now() - t0 < 60_000, `took ${Date.now() - t0} ms`);
    await py.release();
    await until(() => tg.gw.stats().udp?.destinations === 0, 'the destinations to go with the association', 10_000);
  });

  it('a destination the policy denies: no reply, dropped and counted at the gateway, logged once with the reason', async (t) => {
    // The denied destination is a live echo too: were it let through, it would answer.
    const echoes = await udpEchoes(t, 2);
    const [echo, denied] = echoes.ports as [number, number];
    const rules = `[[allow]]\nname = "alice tcp"\nwho = ["user:alice"]\nto = ["127.0.0.1"]\nports = ["*"]\n\n[[allow]]\nname = "alice udp echo"\nwho = ["user:alice"]\nto = ["127.0.0.1"]\nports = ["${echo}"]\nproto = ["udp"]\n`;
    const { tg, fw, ports } = await socksSetup(t, rules);
    const COUNT = 5;
    const py = pysocks<{ replies: Record<string, number> }>(t, { mode: 'denied', proxy: ports[0]!, targets: [[LOOP, denied], [LOOP, echo]], count: COUNT, gap: 0.1, wait: 1.5 }, 30_000);
    const r = await py.result;
    const udp = tg.gw.stats().udp;
    t.diagnostic(`replies ${JSON.stringify(r.replies)}; gateway udp ${JSON.stringify(udp)}`);
    assert.equal(r.replies[`${LOOP}:${denied}`], undefined, 'no reply from the denied destination');
    assert.equal(echoes.received[1], 0, 'nothing reached the denied destination');
    assert.ok((r.replies[`${LOOP}:${echo}`] ?? 0) >= COUNT - 1, 'the allowed destination of the same association answers');
    const dropped = udp?.drops['destination_denied'] ?? 0;
    assert.ok(dropped >= COUNT - 1 && dropped <= COUNT, `${dropped} datagrams counted as destination_denied, sent ${COUNT}`);
    const gwLines = tg.logs.filter((l) => l.msg === 'udp destination denied');
    assert.equal(gwLines.length, 1, `the gateway logs the denial once: ${JSON.stringify(gwLines)}`);
    const reason = String(gwLines[0]!.reason);
    assert.match(reason, new RegExp(`no policy rule lets user alice .*udp 127\\.0\\.0\\.1 port ${denied}`));
    await until(() => fw.warn.some((l) => l.includes('denied by the gateway')), 'the forwarder to print the denial', 5000);
    const lines = fw.warn.filter((l) => l.includes('denied by the gateway'));
    t.diagnostic(`forwarder: ${lines.join(' | ')}`);
    assert.equal(lines.length, 1, 'the forwarder logs the denial once');
    // -D PORT: CLIENT udp: denied by the gateway: DESTINATION: REASON
    assert.ok(lines[0]!.startsWith(`-D ${ports[0]}: ${LOOP}:`) && lines[0]!.includes(' udp: denied by the gateway: '), lines[0]);
    assert.ok(lines[0]!.endsWith(`${LOOP}:${denied}: ${reason}`), `names the destination and ends with the gateway's reason: ${lines[0]}`);
    assert.equal(fw.f.socksStats()[0]?.destinationsDenied, 1);
  });

  it('datagrams with FRAG != 0 are dropped, counted and logged once; whole ones still pass', async (t) => {
    const echo = await udpEchoes(t, 1);
    const { fw, ports } = await socksSetup(t, ALLOW_ALICE_LOOPBACK);
    const py = pysocks<{ frag_replies: number; whole: [string, [string, number]] | null }>(t, { mode: 'frag', proxy: ports[0]!, host: LOOP, port: echo.ports[0], count: 3, wait: 1 }, 30_000);
    const r = await py.result;
    t.diagnostic(`${JSON.stringify(r)}; forwarder warn: ${fw.warn.join(' | ')}`);
    assert.equal(r.frag_replies, 0);
    assert.deepEqual(r.whole, ['whole', [LOOP, echo.ports[0]]]);
    assert.equal(echo.received[0], 1, 'only the whole datagram reached the echo');
    assert.equal(fw.warn.filter((l) => /frag/i.test(l)).length, 1, 'logged once');
    assert.equal(fw.f.socksStats()[0]?.fragments, 3, 'and counted');
  });
});
