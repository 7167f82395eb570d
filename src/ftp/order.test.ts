import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReplyOrder, isFinalCode } from './order.js';

const b = (s: string) => Buffer.from(s);
const s = (bs: Buffer[]) => bs.map((x) => x.toString());

test('a refusal waits for the greeting and for earlier forwarded commands', () => {
  const o = new ReplyOrder();
  assert.deepEqual(s(o.local(b('534 no'))), []);
  assert.deepEqual(s(o.serverFinal()), ['534 no']);
  o.forwarded();
  o.forwarded();
  assert.deepEqual(s(o.local(b('502 a'))), []);
  o.forwarded();
  assert.deepEqual(s(o.local(b('502 b'))), []);
  assert.deepEqual(s(o.serverFinal()), []);
  assert.deepEqual(s(o.serverFinal()), ['502 a']);
  assert.deepEqual(s(o.serverFinal()), ['502 b']);
  assert.equal(o.pending, 0);
  assert.deepEqual(s(o.local(b('now'))), ['now']);
});

test('unsolicited finals change nothing; drainAll releases held replies', () => {
  const o = new ReplyOrder();
  o.serverFinal();
  assert.deepEqual(s(o.serverFinal()), []);
  o.forwarded();
  o.local(b('x'));
  assert.deepEqual(s(o.drainAll()), ['x']);
  assert.ok(isFinalCode(226) && isFinalCode(550) && !isFinalCode(150) && !isFinalCode(631));
});
