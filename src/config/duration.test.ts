import { test } from 'node:test';
import assert from 'node:assert/strict';
import { durationField } from './duration.js';
import { ConfigError } from './errors.js';

test('durationField', () => {
  assert.deepEqual(['500ms', '30s', '5m', '1h', '1.5s', '0.5ms', '168h'].map((d) => durationField('f', 'x', d, 0)), [500, 30_000, 300_000, 3_600_000, 1500, 1, 604_800_000]);
  for (const bad of ['', '5', 's', '5 s', '-1s', '1d', '169h', '0ms', '0.4ms', '1e3ms', '5S', ' 5s', '.5s']) {
    assert.throws(() => durationField('gw.toml', 'connect_timeout', bad, 0), (err: unknown) => err instanceof ConfigError && err.message.startsWith('gw.toml: connect_timeout: '), bad);
  }
  assert.equal(durationField('f', 'x', undefined, 7), 7);
});
