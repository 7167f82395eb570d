import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { duplexPair } from '../ftp/testing.js';
import { splice } from './splice.js';

test('splice counts bytes both ways and says which end finished first', async () => {
  const [client, clientPeer] = duplexPair();
  const [target, targetPeer] = duplexPair();
  const link = splice(client, target);
  let atTarget = '';
  targetPeer.on('data', (b: Buffer) => (atTarget += b.toString()));
  clientPeer.resume();
  clientPeer.end('hello');
  targetPeer.end('world!');
  const r = await link.done;
  assert.equal(atTarget, 'hello');
  assert.equal(r.up, 5);
  assert.equal(r.down, 6);
  assert.match(r.end, /closed/);
});

test('splice with an end already gone closes the other instead of leaving it open', async () => {
  const gone = new PassThrough();
  gone.destroy();
  await new Promise((r) => gone.once('close', r));
  const other = new PassThrough();
  const r = await splice(gone, other).done;
  assert.ok(other.destroyed);
  assert.equal(r.end, 'client closed');
});

test('cut ends both sides and records the reason', async () => {
  const a = new PassThrough();
  const b = new PassThrough();
  const link = splice(a, b);
  link.cut('policy reload: no');
  const r = await link.done;
  assert.equal(r.end, 'policy reload: no');
  assert.ok(a.destroyed && b.destroyed);
});
