// The gate on a real TCP listener (loopback): caps per source and in all,
// the deadline from accept, a passed peer freed, a refused one lingers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { closedWithin, holdStalled, waitUntil } from './testing.js';
import { UnauthGate, type GateClose } from './unauth-gate.js';

async function listener(gate: UnauthGate): Promise<{ server: Server; port: number; accepted: Socket[] }> {
  const accepted: Socket[] = [];
  const server = createServer((s) => {
    s.on('error', () => undefined);
    accepted.push(s);
    gate.admit(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, port: (server.address() as { port: number }).port, accepted };
}

test('caps, deadline, passed and refused', async () => {
  const events: [GateClose, string][] = [];
  const gate = new UnauthGate({ perSource: 2, total: 3, timeoutMs: 1500 }, (why, source) => events.push([why, source]));
  const { server, port, accepted } = await listener(gate);
  const held = [await holdStalled(port, 3, '127.0.0.2'), await holdStalled(port, 2, '127.0.0.3')];
  try {
    // .2: 2 admitted, 1 capped; .3: 1 admitted (total 3), 1 capped.
    assert.ok(await waitUntil(() => events.length === 2 && held[0]!.closed() + held[1]!.closed() === 2, 5000), JSON.stringify(events));
    assert.deepEqual(events, [['capped', '127.0.0.2'], ['capped', '127.0.0.3']]);
    assert.equal(gate.stats().unauthenticated, 3);
    // One passes (freed, no deadline), one is refused (closed after its linger, not reported as a timeout).
    const live = accepted.filter((s) => !s.destroyed);
    gate.passed(live[0]!);
    gate.refused(live[1]!);
    assert.equal(gate.stats().unauthenticated, 2);
    assert.ok(await closedWithin(live[1]!, 5000));
    assert.ok(await closedWithin(live[2]!, 5000), 'not closed at the deadline');
    assert.deepEqual(events.slice(2), [['timeout', live[2]!.remoteAddress!]]);
    assert.equal(live[0]!.destroyed, false, 'a passed connection was closed');
    assert.deepEqual(gate.stats(), { unauthenticated: 0, capped: 2, timedOut: 1 });
  } finally {
    for (const h of held) h.destroy();
    gate.close();
    for (const s of accepted) s.destroy();
    server.close();
  }
});
