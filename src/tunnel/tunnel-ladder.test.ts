// The transport ladder end to end (ISSUE14 §5): a paced TCP flow through
// the tunnel, opened before any switch; UDP to and from the server's port is
// then dropped by nftables in the client's namespace, so the client falls to
// the TLS/TCP rung and the flow goes on; the rule removed, the client climbs
// back to UDP within 30 s. The same inner TCP connection lives through both
// switches and its bytes arrive exactly as sent.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { NetnsLab, netnsMissing, nftMissing } from '../hostnet/netns-testing.js';
import { startCaTunnel, startFlow } from './tunnel-flow-testing.js';
import { insel } from './tunnel-testing.js';

const skip = netnsMissing() ?? nftMissing();

/** The rung `insel status --json` shows for the first client of the daemon behind `socket`. */
async function statusRung(socket: string): Promise<string> {
  const s = JSON.parse(await insel(['status', '--json', '--socket', socket])) as { clients: { rung: string; rungWhy?: string }[] };
  return s.clients[0]?.rung ?? 'no client';
}

let lab: NetnsLab;

before(async () => {
  if (skip !== undefined) return;
  lab = await NetnsLab.create('tunladder');
});

after(async () => {
  if (lab !== undefined) await lab.cleanup();
});

test('UDP blocked mid-flow: on to TCP, back on UDP once unblocked; the inner TCP connection survives both, byte-exact', { skip, timeout: 90_000 }, async () => {
  const { a, b, dir, server, client } = await startCaTunnel(lab, { tag: 'ladd' });
  await server.waitFor(/alice .* connected: 10\.8\.0\./);

  // 4 KiB every 100 ms: a connection that exchanges data all the time, opened before any switch.
  const flow = await startFlow(lab, { from: b, to: a, host: '10.8.0.1', port: 7300, chunk: 4096, intervalMs: 100 });
  await flow.reached(32 * 1024);

  const out = await lab.addDrop(b, 'output', ['udp', 'dport', '1194']);
  const inp = await lab.addDrop(b, 'input', ['udp', 'sport', '1194']);
  const fell = await client.waitFor(/transport: tcp/, 10_000);
  assert.match(fell, /no UDP reply/, 'the client says why it left UDP');
  await server.waitFor(/data path now tcp/);
  assert.equal(await statusRung(join(dir, 'c.sock')), 'tcp', 'insel status shows the client on the TCP rung');
  assert.equal(await statusRung(join(dir, 's.sock')), 'tcp', 'and the server shows its client there too');
  await flow.reached(32 * 1024, { fromNow: true, timeoutMs: 20_000 });

  await lab.removeDrop(b, 'output', out);
  await lab.removeDrop(b, 'input', inp);
  await client.waitFor(/transport: udp \(UDP answered again\)/, 30_000);
  await server.waitFor(/data path now 192\.168\.77\.2:/);
  assert.equal(await statusRung(join(dir, 'c.sock')), 'udp', 'insel status shows the client back on UDP');
  await flow.reached(32 * 1024, { fromNow: true, timeoutMs: 20_000 });

  const r = await flow.finish();
  assert.ok(r.sentBytes >= 96 * 1024, `the flow carried data across both switches (${r.sentBytes} bytes)`);
  assert.equal(r.receivedBytes, r.sentBytes, 'every byte arrived');
  assert.equal(r.receivedSha, r.sentSha, 'byte-exact: the same inner TCP connection through both switches');
  assert.doesNotMatch(client.output(), /session lost/, 'the session itself was never lost');

  assert.equal(await client.stop(), 0);
  assert.equal(await server.stop(), 0);
});
