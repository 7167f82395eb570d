import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InselError } from '../errors.js';
import { Router } from './router.js';

test('routes by name, in registration order; a name twice is refused; unknown names are undefined', () => {
  const r = new Router<number>('ALPN protocol').register('insel/1', 1).register('http/1.1', 2);
  assert.deepEqual(r.names, ['insel/1', 'http/1.1']);
  assert.equal(r.route('http/1.1'), 2);
  assert.equal(r.route('h2'), undefined);
  assert.throws(() => r.register('insel/1', 3), (e: unknown) => e instanceof InselError && e.code === 'INSEL_ROUTE_TAKEN' && /ALPN protocol insel\/1/.test(e.message));
});
