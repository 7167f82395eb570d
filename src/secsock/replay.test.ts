import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { REPLAY_WINDOW_SIZE, ReplayWindow, type ReplayVerdict } from './replay.js';

const W = REPLAY_WINDOW_SIZE;

/** Check, and mark if accepted: what the receive path does for an authentic datagram. */
function accept(w: ReplayWindow, n: number): boolean {
  const ok = w.check(n) === 'ok';
  if (ok) w.mark(n);
  return ok;
}

/** The reference: every counter ever marked, and the largest. */
class SlowWindow {
  private readonly seen = new Set<number>();
  private max = 0;
  check(n: number): ReplayVerdict {
    if (n + W < this.max) return 'too_old';
    return this.seen.has(n) ? 'replay' : 'ok';
  }
  mark(n: number): void {
    this.seen.add(n);
    this.max = Math.max(this.max, n);
  }
}

test('the window is at least 1024 counters', () => {
  assert.ok(W >= 1024);
  assert.equal(W, 2016);
});

// wireguard-go replay/replay_test.go (ported from the Linux kernel), without
// its message limit: ReplayWindow has none, rekeying comes first.
test('vectors from wireguard-go', () => {
  const w = new ReplayWindow();
  const T_LIM = W + 1;
  const T = (n: number, expected: boolean, no: number) => assert.equal(accept(w, n), expected, `test ${no}: ${n}`);
  T(0, true, 1);
  T(1, true, 2);
  T(1, false, 3);
  T(9, true, 4);
  T(8, true, 5);
  T(7, true, 6);
  T(7, false, 7);
  T(T_LIM, true, 8);
  T(T_LIM - 1, true, 9);
  T(T_LIM - 1, false, 10);
  T(T_LIM - 2, true, 11);
  T(2, true, 12);
  T(2, false, 13);
  T(T_LIM + 16, true, 14);
  T(3, false, 15);
  T(T_LIM + 16, false, 16);
  T(T_LIM * 4, true, 17);
  T(T_LIM * 4 - (T_LIM - 1), true, 18);
  T(10, false, 19);
  T(T_LIM * 4 - T_LIM, false, 20);
  T(T_LIM * 4 - (T_LIM + 1), false, 21);
  T(T_LIM * 4 - (T_LIM - 2), true, 22);
  T(T_LIM * 4 + 1 - T_LIM, false, 23);
  T(0, false, 24);

  const bulk = (counters: number[], tail: [number, boolean][]) => {
    w.reset();
    for (const n of counters) assert.equal(accept(w, n), true, `bulk ${n}`);
    for (const [n, e] of tail) assert.equal(accept(w, n), e, `bulk tail ${n}`);
  };
  const range = (from: number, to: number) => Array.from({ length: Math.abs(to - from) + 1 }, (_, i) => (from <= to ? from + i : from - i));
  bulk(range(1, W), [[0, true], [0, false]]);
  bulk(range(2, W + 1), [[1, true], [0, false]]);
  bulk(range(W + 1, 1), []);
  bulk(range(W + 2, 2), [[0, false]]);
  bulk(range(W, 1), [[W + 1, true], [0, false]]);
  bulk(range(W, 1), [[0, true], [W + 1, true]]);
});

test('verdicts: replay inside the window, too_old behind it', () => {
  const w = new ReplayWindow();
  w.mark(5000);
  assert.equal(w.check(5000), 'replay');
  assert.equal(w.check(5000 - W), 'ok');
  assert.equal(w.check(5000 - W - 1), 'too_old');
  assert.equal(w.check(5001), 'ok');
  assert.equal(w.check(2 ** 53 - 1), 'ok');
});

test('check never moves the window; only mark does', () => {
  const w = new ReplayWindow();
  w.check(1_000_000);
  assert.equal(w.check(1), 'ok');
  w.mark(1_000_000);
  assert.equal(w.check(1), 'too_old');
});

test('counters near 2^53 stay exact', () => {
  const w = new ReplayWindow();
  const top = Number.MAX_SAFE_INTEGER;
  assert.equal(accept(w, top - 40), true);
  assert.equal(accept(w, top), true);
  assert.equal(accept(w, top - 40), false);
  assert.equal(accept(w, top - 1), true);
  assert.equal(w.check(top - W), 'ok');
  assert.equal(w.check(top - W - 1), 'too_old');
});

test('model: ReplayWindow agrees with a Set over random sequences', () => {
  // Steps relative to the highest counter so far: forward (small or huge jumps),
  // duplicates of recent counters, and old ones around the window's edge.
  const step = fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: 1, max: 40 }).map((d) => ['fwd', d] as const) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 5000 }).map((d) => ['fwd', d] as const) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 2 ** 40 }).map((d) => ['fwd', d] as const) },
    { weight: 3, arbitrary: fc.integer({ min: 0, max: 64 }).map((d) => ['back', d] as const) },
    { weight: 3, arbitrary: fc.integer({ min: W - 40, max: W + 40 }).map((d) => ['back', d] as const) },
    { weight: 2, arbitrary: fc.integer({ min: 0, max: 3 * W }).map((d) => ['back', d] as const) },
    { weight: 2, arbitrary: fc.nat().map((i) => ['dup', i] as const) },
  );
  // Whether the datagram authenticated: a forged one is checked, never marked.
  const op = fc.tuple(step, fc.integer({ min: 0, max: 9 }).map((x) => x < 8));
  fc.assert(
    fc.property(fc.array(op, { minLength: 1, maxLength: 400 }), (ops) => {
      const w = new ReplayWindow();
      const ref = new SlowWindow();
      const history: number[] = [];
      let max = 0;
      for (const [[kind, d], authentic] of ops) {
        const n =
          kind === 'fwd' ? Math.min(max + d, Number.MAX_SAFE_INTEGER) : kind === 'back' ? Math.max(0, max - d) : history.length > 0 ? history[d % history.length]! : 0;
        const verdict = w.check(n);
        assert.equal(verdict, ref.check(n), `counter ${n}, max ${max}`);
        if (verdict === 'ok' && authentic) {
          w.mark(n);
          ref.mark(n);
          history.push(n);
          max = Math.max(max, n);
        }
      }
    }),
    { numRuns: 300 },
  );
});

test('reset forgets everything', () => {
  const w = new ReplayWindow();
  w.mark(10_000);
  w.mark(3);
  w.reset();
  assert.equal(w.check(3), 'ok');
  assert.equal(w.check(10_000), 'ok');
  assert.equal(w.check(0), 'ok');
});
