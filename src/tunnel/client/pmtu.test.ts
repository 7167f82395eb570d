// PLPMTUD against a simulated path (a link MTU, ICMP filtered: too-big
// probes simply vanish), on a ManualClock: convergence, black holes, lost and
// bogus acks, ERROR, raise. Times are the manual clock's, never real ones.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ManualClock } from '../../secsock/clock.js';
import { BASE_PLPMTU, CONFIRMATION_MS, MAX_PROBES, PMTU_RAISE_MS, PROBE_TIMER_MS, Pmtu, datagramSizeFor, type PmtuOptions } from './pmtu.js';

const TICK_MS = 250;
const RTT_MS = 30;

interface SimOptions {
  /** the path's link MTU (IPv4); may change during the test */
  pathMtu: number;
  localMtu: number;
  /** true = this probe (n-th of its size, from 0) is lost */
  lose?: (size: number, nth: number) => boolean;
  pmtu?: Partial<PmtuOptions>;
}

function simulate(o: SimOptions) {
  const clock = new ManualClock();
  const sim = {
    clock,
    pathMtu: o.pathMtu,
    probes: [] as { id: number; size: number }[],
    changes: [] as { size: number; at: number }[],
    pending: [] as { due: number; id: number; size: number }[],
    pmtu: undefined as unknown as Pmtu,
  };
  const perSize = new Map<number, number>();
  sim.pmtu = new Pmtu({
    clock,
    max: datagramSizeFor(o.localMtu, 4),
    sendProbe(id, size) {
      sim.probes.push({ id, size });
      const nth = perSize.get(size) ?? 0;
      perSize.set(size, nth + 1);
      if (size > datagramSizeFor(sim.pathMtu, 4) || o.lose?.(size, nth)) return;
      sim.pending.push({ due: clock.now() + RTT_MS, id, size });
    },
    onChange(size) {
      sim.changes.push({ size, at: clock.now() });
    },
    ...o.pmtu,
  });
  // the network delivers acks; the daemon's ticker drives the machine
  clock.every(10, () => {
    const due = sim.pending.filter((p) => p.due <= clock.now());
    sim.pending = sim.pending.filter((p) => p.due > clock.now());
    for (const p of due) sim.pmtu.onAck(p.id, p.size);
  });
  clock.every(TICK_MS, () => sim.pmtu.tick());
  return sim;
}

/** A search between base and max: MAX_PLPMTU first, then ≤ ceil(log2) halvings, each at most MAX_PROBES probes, plus the base probe. */
function probeBound(max: number): number {
  return 1 + MAX_PROBES * (1 + Math.ceil(Math.log2(max - BASE_PLPMTU + 1)));
}

describe('PLPMTUD', () => {
  for (const [pathMtu, localMtu] of [
    [1280, 1500],
    [1400, 1500],
    [1500, 1500],
    [1280, 9000],
    [1500, 9000],
    [9000, 9000],
  ] as const) {
    it(`converges to a path MTU of ${pathMtu} (local ${localMtu}) without ICMP, within the probe bound`, () => {
      const sim = simulate({ pathMtu, localMtu });
      sim.pmtu.start();
      sim.clock.advance(120_000);
      const max = datagramSizeFor(localMtu, 4);
      assert.equal(sim.pmtu.state, 'search_complete');
      assert.equal(sim.pmtu.plpmtu, datagramSizeFor(pathMtu, 4));
      const searchProbes = sim.probes.length - Math.floor(120_000 / CONFIRMATION_MS); // minus confirmations
      assert.ok(searchProbes <= probeBound(max), `${searchProbes} probes > ${probeBound(max)}`);
      assert.ok(sim.probes.every((p) => p.size <= max && p.size >= BASE_PLPMTU));
      assert.deepEqual(sim.changes.at(-1)?.size, datagramSizeFor(pathMtu, 4));
    });
  }

  it('one probe suffices when the path carries the local MTU', () => {
    const sim = simulate({ pathMtu: 1500, localMtu: 1500 });
    sim.pmtu.start();
    sim.clock.advance(2 * TICK_MS);
    assert.deepEqual(
      sim.probes.map((p) => p.size),
      [BASE_PLPMTU, 1472],
    );
    assert.deepEqual(sim.changes.map((c) => c.size), [1472]);
  });

  it('shrinks from 1500 to 1280 when the path changes and only probe loss says so, within confirm + MAX_PROBES probe timers', () => {
    const sim = simulate({ pathMtu: 1500, localMtu: 1500 });
    sim.pmtu.start();
    sim.clock.advance(5_000);
    assert.equal(sim.pmtu.plpmtu, 1472);
    const changedAt = sim.clock.now();
    sim.pathMtu = 1280;
    sim.clock.advance(60_000);
    const drop = sim.changes.find((c) => c.at > changedAt);
    assert.ok(drop);
    assert.equal(drop.size, BASE_PLPMTU, 'a black hole cuts to the base size at once');
    assert.ok(drop.at - changedAt <= CONFIRMATION_MS + MAX_PROBES * PROBE_TIMER_MS + TICK_MS, `black hole found after ${drop.at - changedAt} ms`);
    assert.equal(sim.pmtu.plpmtu, datagramSizeFor(1280, 4), 'then it searches up to what the new path carries');
    assert.equal(sim.pmtu.state, 'search_complete');
  });

  it('climbs again after PMTU_RAISE_TIMER when the path grows', () => {
    const sim = simulate({ pathMtu: 1280, localMtu: 1500 });
    sim.pmtu.start();
    sim.clock.advance(60_000);
    assert.equal(sim.pmtu.plpmtu, 1252);
    sim.pathMtu = 1500;
    sim.clock.advance(PMTU_RAISE_MS - 60_000 - 1_000);
    assert.equal(sim.pmtu.plpmtu, 1252, 'no search before the raise timer');
    sim.clock.advance(120_000);
    assert.equal(sim.pmtu.plpmtu, 1472);
  });

  it('survives lost probes and acks: MAX_PROBES − 1 losses per size change nothing', () => {
    const sim = simulate({ pathMtu: 1400, localMtu: 1500, lose: (_size, nth) => nth < MAX_PROBES - 1 });
    sim.pmtu.start();
    sim.clock.advance(300_000);
    assert.equal(sim.pmtu.plpmtu, datagramSizeFor(1400, 4));
    assert.equal(sim.pmtu.state, 'search_complete');
  });

  it('a path below the base size: ERROR at MIN_PLPMTU, BASE retried, SEARCHING once it works', () => {
    const sim = simulate({ pathMtu: 1000, localMtu: 1500, pmtu: { min: 548 } });
    sim.pmtu.start();
    sim.clock.advance(MAX_PROBES * PROBE_TIMER_MS + TICK_MS);
    assert.equal(sim.pmtu.state, 'error');
    assert.equal(sim.pmtu.plpmtu, 548);
    assert.ok(sim.probes.every((p) => p.size === BASE_PLPMTU));
    sim.pathMtu = 1500;
    sim.clock.advance(CONFIRMATION_MS + 2 * TICK_MS);
    assert.equal(sim.pmtu.plpmtu, 1472);
  });

  it('ignores acks for unknown ids, wrong sizes, duplicates, late ones of an older size, and any while disabled', () => {
    const sim = simulate({ pathMtu: 1500, localMtu: 1500, lose: () => true }); // we answer by hand
    sim.pmtu.start();
    const base = sim.probes[0]!;
    assert.equal(sim.pmtu.onAck(base.id + 1000, base.size), false, 'id never sent');
    assert.equal(sim.pmtu.onAck(base.id, base.size + 1), false, 'forged size');
    assert.equal(sim.pmtu.onAck(base.id, 9000), false, 'a size never probed');
    assert.equal(sim.pmtu.state, 'base');
    assert.equal(sim.pmtu.onAck(base.id, base.size), true);
    assert.equal(sim.pmtu.onAck(base.id, base.size), false, 'duplicate');
    assert.equal(sim.pmtu.state, 'searching');
    const big = sim.probes.at(-1)!;
    assert.equal(big.size, 1472);
    sim.clock.advance(PROBE_TIMER_MS + TICK_MS); // a retry of 1472 went out: the first is still answerable
    assert.equal(sim.probes.at(-1)!.size, 1472);
    assert.equal(sim.pmtu.onAck(big.id, big.size), true, 'a late ack of an earlier attempt of the probed size counts');
    assert.equal(sim.pmtu.plpmtu, 1472);
    assert.equal(sim.pmtu.onAck(sim.probes.at(-1)!.id, 1472), false, 'its sibling is no longer outstanding');
    sim.pmtu.stop();
    const sent = sim.probes.length;
    sim.clock.advance(PMTU_RAISE_MS + CONFIRMATION_MS);
    assert.equal(sim.probes.length, sent, 'no probes while disabled');
    assert.equal(sim.pmtu.onAck(big.id, big.size), false);
    sim.pmtu.start();
    assert.equal(sim.pmtu.state, 'base');
    assert.equal(sim.probes.at(-1)!.size, BASE_PLPMTU);
    assert.equal(sim.pmtu.plpmtu, BASE_PLPMTU, 'a restart begins at the base size again');
  });

  it('never probes beyond MAX_PLPMTU nor reports more than the path carries, whatever the losses and delays', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 576, max: 9000 }),
        fc.integer({ min: 576, max: 9000 }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 64 }),
        fc.integer({ min: 0, max: 3 * PROBE_TIMER_MS }),
        (localMtu, pathMtu, losses, delay) => {
          const clock = new ManualClock();
          const max = datagramSizeFor(localMtu, 4);
          const carries = datagramSizeFor(pathMtu, 4);
          let n = 0;
          const pending: { due: number; id: number; size: number }[] = [];
          const m = new Pmtu({
            clock,
            max,
            sendProbe(id, size) {
              assert.ok(size <= max && size >= Math.min(BASE_PLPMTU, max), `probe of ${size}`);
              if (size <= carries && !losses[n++ % losses.length]) pending.push({ due: clock.now() + delay, id, size });
            },
          });
          clock.every(10, () => {
            for (const p of pending.splice(0)) {
              if (p.due > clock.now()) pending.push(p);
              else {
                m.onAck(p.id, p.size);
                m.onAck(p.id, p.size); // duplicated by the network
              }
            }
          });
          clock.every(TICK_MS, () => m.tick());
          m.start();
          for (let t = 0; t < 40; t++) {
            clock.advance(5_000);
            assert.ok(m.plpmtu <= max);
            if (BASE_PLPMTU <= carries) assert.ok(m.plpmtu <= carries, `plpmtu ${m.plpmtu} above the path's ${carries}`);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('refuses a maximum no probe fits in, and lowers the base to a small maximum', () => {
    assert.throws(() => new Pmtu({ clock: new ManualClock(), max: 20, sendProbe: () => undefined }), { code: 'INSEL_PMTU_OPTIONS' });
    const m = new Pmtu({ clock: new ManualClock(), max: 548, sendProbe: () => undefined });
    assert.equal(m.plpmtu, 548);
  });
});
