import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SummaryLog } from './summary-log.js';

function capture(): { lines: { obj: Record<string, unknown>; msg?: string }[]; warn(obj: object, msg?: string): void } {
  const lines: { obj: Record<string, unknown>; msg?: string }[] = [];
  return { lines, warn: (obj, msg) => void lines.push({ obj: obj as Record<string, unknown>, ...(msg === undefined ? {} : { msg }) }) };
}

test('10,000 events from 5,000 sources with 20 reasons are one line: counts, sources, 8 reasons and "other"', () => {
  const log = capture();
  const s = new SummaryLog(log, 'closed', { port: 'tls' }, 60_000);
  for (let i = 0; i < 10_000; i++) s.count(i % 2 ? 'refused' : 'timedOut', `10.0.${i % 5000 >> 8}.${i % 256}`, `reason ${i % 20}`);
  assert.equal(log.lines.length, 0, 'nothing is written per event');
  s.flush();
  s.flush(); // nothing new: no second line
  assert.equal(log.lines.length, 1);
  const { obj, msg } = log.lines[0]!;
  assert.equal(msg, 'closed');
  assert.equal(obj.port, 'tls');
  assert.equal(obj.refused, 5000);
  assert.equal(obj.timedOut, 5000);
  assert.equal(obj.sources, 4096, 'distinct sources are counted up to a bound');
  const reasons = obj.reasons as Record<string, number>;
  assert.equal(Object.keys(reasons).length, 9);
  assert.equal(Object.values(reasons).reduce((a, b) => a + b, 0), 10_000);
  assert.ok(reasons.other! > 0);
});

test('a steady stream of events gives at most one line per interval', async () => {
  const log = capture();
  const s = new SummaryLog(log, 'closed', {}, 100);
  const started = Date.now();
  while (Date.now() - started < 450) {
    s.count('failed', '127.0.0.2');
    await new Promise((r) => setTimeout(r, 5));
  }
  s.flush();
  assert.ok(log.lines.length >= 2 && log.lines.length <= Math.ceil((Date.now() - started) / 100) + 1, `${log.lines.length} lines`);
  assert.equal(log.lines.reduce((n, l) => n + Number(l.obj.failed), 0) > 0, true);
});
