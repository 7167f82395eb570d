// The transport ladder on a ManualClock against a simulated server: UDP that
// works or is blocked, traffic or silence. Times are the manual clock's.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../secsock/clock.js';
import { LADDER_TIMING, Ladder, type LadderOptions, type Rung } from './ladder.js';

const TICK_MS = 250;
const RTT_MS = 40;

function simulate(o: Partial<LadderOptions> = {}) {
  const clock = new ManualClock();
  const sim = {
    clock,
    udpWorks: true,
    /** the application sends (and, over working UDP, gets replies) */
    traffic: false,
    /** replies to lose to the next probes, whether or not UDP works */
    loseReplies: 0,
    switches: [] as { rung: Rung; why: string; at: number }[],
    probes: [] as { at: number; rung: Rung }[],
    replies: [] as number[],
    ladder: undefined as unknown as Ladder,
  };
  sim.ladder = new Ladder({
    clock,
    udpTarget: '192.0.2.1:1194',
    tcpTarget: '192.0.2.1:443',
    switchTo(rung, why) {
      sim.switches.push({ rung, why, at: clock.now() });
    },
    probeUdp() {
      sim.probes.push({ at: clock.now(), rung: sim.ladder.rung });
      if (sim.loseReplies > 0) sim.loseReplies--;
      else if (sim.udpWorks) sim.replies.push(clock.now() + RTT_MS);
    },
    ...o,
  });
  clock.every(10, () => {
    const due = sim.replies.filter((t) => t <= clock.now());
    sim.replies = sim.replies.filter((t) => t > clock.now());
    for (const _ of due) sim.ladder.onAuthenticRx('udp');
  });
  clock.every(100, () => {
    if (!sim.traffic) return;
    if (sim.ladder.rung === 'udp') {
      sim.ladder.onUdpTx();
      if (sim.udpWorks) sim.replies.push(clock.now() + RTT_MS);
    } else sim.ladder.onAuthenticRx('tcp');
  });
  clock.every(TICK_MS, () => sim.ladder.tick());
  return sim;
}

/** Started with UDP blocked: on the TCP rung. */
function fallen(o: Partial<LadderOptions> = {}) {
  const sim = simulate(o);
  sim.udpWorks = false;
  sim.ladder.start();
  sim.clock.advance(2_000);
  assert.equal(sim.ladder.rung, 'tcp');
  return sim;
}

describe('transport ladder', () => {
  it('starts on UDP and stays there while UDP answers', () => {
    const sim = simulate();
    sim.ladder.start();
    sim.traffic = true;
    sim.clock.advance(60_000);
    assert.deepEqual(sim.switches.map((s) => s.rung), ['udp']);
    assert.equal(sim.ladder.rung, 'udp');
    assert.equal(sim.probes.length, 1, 'traffic answered: no probes beyond the first');
  });

  it('falls to TCP when UDP never answers after starting', () => {
    const sim = simulate();
    sim.udpWorks = false;
    const t0 = sim.clock.now();
    sim.ladder.start();
    sim.clock.advance(5_000);
    const fall = sim.switches[1]!;
    assert.equal(fall.rung, 'tcp');
    assert.match(fall.why, /^no UDP reply from 192\.0\.2\.1:1194 within 1\.\d s of starting$/);
    assert.ok(fall.at - t0 <= LADDER_TIMING.firstReplyMs + TICK_MS);
    assert.equal(sim.ladder.rung, 'tcp');
    assert.equal(sim.ladder.since, fall.at);
    assert.equal(sim.ladder.why, fall.why);
  });

  it('falls to TCP within 3 s of UDP breaking under traffic, and climbs back within 30 s of it working again', () => {
    const sim = simulate();
    sim.ladder.start();
    sim.traffic = true;
    sim.clock.advance(10_000);
    const broke = sim.clock.now();
    sim.udpWorks = false;
    sim.clock.advance(10_000);
    const fall = sim.switches.find((s) => s.at > broke)!;
    assert.equal(fall.rung, 'tcp');
    assert.match(fall.why, /^no UDP reply from 192\.0\.2\.1:1194 for 2\.\d s$/);
    assert.ok(fall.at - broke <= 3000, `fell after ${fall.at - broke} ms`);
    sim.clock.advance(60_000);
    assert.equal(sim.ladder.rung, 'tcp', 'still blocked: stays on TCP');
    const onTcp = sim.probes.filter((p) => p.at > fall.at).map((p) => p.at);
    const gaps = onTcp.slice(1).map((t, i) => t - onTcp[i]!);
    assert.ok(gaps.every((g) => g >= LADDER_TIMING.retryMs && g <= LADDER_TIMING.retryMaxMs + TICK_MS), `probe gaps ${gaps}`);
    assert.equal(gaps.at(-1), LADDER_TIMING.retryMaxMs, 'backed off to 10 s');
    const fixed = sim.clock.now();
    sim.udpWorks = true;
    sim.clock.advance(40_000);
    const climb = sim.switches.find((s) => s.at > fixed)!;
    assert.deepEqual([climb.rung, climb.why], ['udp', 'UDP answered again']);
    assert.ok(climb.at - fixed <= 30_000, `climbed after ${climb.at - fixed} ms`);
    assert.equal(sim.ladder.rung, 'udp');
  });

  it('a datagram from before the fall does not climb back; only one after a probe does', () => {
    const sim = fallen();
    sim.ladder.onAuthenticRx('udp'); // late, reordered
    assert.equal(sim.ladder.rung, 'tcp');
    sim.udpWorks = true;
    sim.clock.advance(LADDER_TIMING.retryMs + TICK_MS + RTT_MS);
    assert.equal(sim.ladder.rung, 'udp');
  });

  it('an isolated lost reply does not fall; a quiet tunnel probes only every idleMs', () => {
    const sim = simulate();
    sim.ladder.start();
    sim.clock.advance(1_000);
    sim.loseReplies = 1;
    sim.clock.advance(130_000);
    assert.equal(sim.loseReplies, 0, 'a reply was lost');
    assert.deepEqual(sim.switches.map((s) => s.rung), ['udp']);
    assert.ok(sim.probes.length <= 2 + 130_000 / LADDER_TIMING.idleMs, `${sim.probes.length} probes while idle`);
  });

  it('a quiet tunnel notices blocked UDP within idleMs + silenceMs', () => {
    const sim = simulate();
    sim.ladder.start();
    sim.clock.advance(1_000);
    const broke = sim.clock.now();
    sim.udpWorks = false;
    sim.clock.advance(30_000);
    const fall = sim.switches[1]!;
    assert.equal(fall.rung, 'tcp');
    assert.ok(fall.at - broke <= LADDER_TIMING.idleMs + LADDER_TIMING.silenceMs + TICK_MS);
  });

  it('a fall soon after a climb probes at the slow interval at once', () => {
    const sim = fallen();
    sim.udpWorks = true;
    sim.clock.advance(LADDER_TIMING.retryMs + TICK_MS + RTT_MS);
    assert.equal(sim.ladder.rung, 'udp');
    sim.traffic = true;
    sim.udpWorks = false;
    sim.clock.advance(3_000);
    const fall = sim.switches.at(-1)!;
    assert.equal(fall.rung, 'tcp');
    sim.clock.advance(LADDER_TIMING.retryMaxMs + TICK_MS);
    const retry = sim.probes.filter((p) => p.at > fall.at);
    assert.equal(retry.length, 1);
    assert.ok(retry[0]!.at - fall.at >= LADDER_TIMING.retryMaxMs);
  });

  it('with an HTTP proxy, a lost TCP connection moves the stream rung to the proxy and back', () => {
    const sim = fallen({ httpProxy: 'proxy.example:3128' });
    sim.ladder.onTcpDown('connection reset');
    assert.equal(sim.ladder.rung, 'http-proxy');
    assert.equal(sim.ladder.stream, 'http-proxy');
    assert.equal(sim.ladder.why, 'TCP to 192.0.2.1:443 lost (connection reset); trying the HTTP proxy proxy.example:3128');
    sim.ladder.onTcpDown('proxy closed');
    assert.equal(sim.ladder.rung, 'tcp');
    assert.equal(sim.ladder.why, 'the HTTP proxy proxy.example:3128 to 192.0.2.1:443 lost (proxy closed); trying TCP to 192.0.2.1:443');
    assert.deepEqual(sim.switches.map((s) => s.rung), ['udp', 'tcp', 'http-proxy', 'tcp']);
  });

  it('a lost TCP connection while on UDP only chooses the way of the next fall', () => {
    const sim = simulate({ httpProxy: 'proxy.example:3128' });
    sim.ladder.start();
    sim.clock.advance(1_000);
    sim.ladder.onTcpDown('timeout');
    assert.equal(sim.ladder.rung, 'udp');
    assert.equal(sim.ladder.stream, 'http-proxy');
    sim.traffic = true;
    sim.udpWorks = false;
    sim.clock.advance(3_000);
    assert.equal(sim.ladder.rung, 'http-proxy');
  });

  it('without a proxy, a lost TCP connection keeps the rung and says so', () => {
    const sim = fallen();
    sim.ladder.onTcpDown('EOF');
    assert.equal(sim.ladder.rung, 'tcp');
    assert.equal(sim.ladder.why, 'TCP to 192.0.2.1:443 lost (EOF); reconnecting');
    assert.equal(sim.switches.length, 2);
  });

  it('proto tcp: starts on TCP and never touches UDP', () => {
    const sim = simulate({ udp: false });
    sim.ladder.start();
    sim.traffic = true;
    sim.clock.advance(60_000);
    assert.deepEqual(sim.switches.map((s) => [s.rung, s.why]), [['tcp', 'UDP is off (proto tcp)']]);
    assert.equal(sim.probes.length, 0);
  });
});
