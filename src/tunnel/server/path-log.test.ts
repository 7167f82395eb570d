import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { PathLog } from './path-log.js';

test('the first path change is logged at once; a burst after it becomes one line with the latest path and the count', async () => {
  const lines: string[] = [];
  const log = new PathLog('alice', (l) => lines.push(l));
  log.change('192.0.2.1:1000');
  assert.deepEqual(lines, ['alice: data path now 192.0.2.1:1000']);
  for (let port = 2000; port < 2500; port++) log.change(`192.0.2.2:${port}`);
  assert.equal(lines.length, 1, 'a burst of 500 switches writes nothing at once');
  await sleep(1200);
  assert.deepEqual(lines.slice(1), ['alice: data path now 192.0.2.2:2499 (500 changes in the last second)']);
  log.stop();
});

test('a pending line is dropped when the session ends', async () => {
  const lines: string[] = [];
  const log = new PathLog('bob', (l) => lines.push(l));
  log.change('192.0.2.1:1000');
  log.change('192.0.2.1:1001');
  log.stop();
  await sleep(1200);
  assert.equal(lines.length, 1);
});
