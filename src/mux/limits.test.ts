import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MuxError } from './errors.js';
import { DEFAULT_LIMITS, resolveLimits, TokenBucket } from './limits.js';

test('defaults: a peer within its credit on every stream it may open stays under the session buffer limit', () => {
  assert.deepEqual(resolveLimits(), DEFAULT_LIMITS);
  assert.ok(DEFAULT_LIMITS.maxStreams * DEFAULT_LIMITS.initialWindow <= DEFAULT_LIMITS.maxBufferedPerSession);
});

test('a limit out of range is refused with its name', () => {
  const bad = (l: Parameters<typeof resolveLimits>[0], field: string) =>
    assert.throws(() => resolveLimits(l), (e: unknown) => e instanceof MuxError && e.code === 'INSEL_MUX_OPTION' && e.field === field);
  bad({ maxStreams: 0 }, 'maxStreams');
  bad({ opensPerSecond: 1.5 }, 'opensPerSecond');
  bad({ initialWindow: 2 ** 32 }, 'initialWindow');
  bad({ initialWindow: 1 << 20, maxWindow: 1 << 19 }, 'maxWindow');
  bad({ maxBufferedPerSession: 1000 }, 'maxBufferedPerSession');
});

test('the OPEN bucket holds one second and refills at its rate', () => {
  let now = 0;
  const b = new TokenBucket(2, () => now);
  assert.deepEqual([b.take(), b.take(), b.take()], [true, true, false]);
  now = 499;
  assert.equal(b.take(), false);
  now = 500;
  assert.equal(b.take(), true);
  now = 60_000;
  assert.deepEqual([b.take(), b.take(), b.take()], [true, true, false]);
});
