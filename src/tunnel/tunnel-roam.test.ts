// Roaming end to end (ISSUE14 §4): while a TCP flow runs through the
// tunnel, the client's underlay address changes (192.168.77.2 → .3 on the
// same link, as a DHCP renewal or a NAT rebinding would do it). Its next
// datagrams come from the new address; the server follows them (the session
// and the tunnel addresses stay), and the flow completes byte-exact. Then,
// in a second lab, UDP is blocked after the move: the TCP rung must not be
// the control connection bound to the address that is gone.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { NetnsLab, netnsMissing } from '../hostnet/netns-testing.js';
import { startCaTunnel, startFlow } from './tunnel-flow-testing.js';

const skip = netnsMissing();

const labs: NetnsLab[] = [];
after(async () => {
  for (const lab of labs) await lab.cleanup();
});

/** A CA pair with a paced flow client → server; the client moves from .2 to .3 once 128 KiB went through, and the server has followed. */
async function roamMidFlow(tag: string, port: number) {
  const lab = await NetnsLab.create('tunroam');
  labs.push(lab);
  const t = await startCaTunnel(lab, {
    tag,
    // Deleting the primary address would take the secondary of its subnet with it otherwise.
    prepare: (_a, b) => lab.sysctl(b, 'net.ipv4.conf.eth0.promote_secondaries', '1'),
  });
  await t.server.waitFor(/data path now 192\.168\.77\.2:/);
  const flow = await startFlow(lab, { from: t.b, to: t.a, host: '10.8.0.1', port, chunk: 16384, intervalMs: 20 });
  await flow.reached(128 * 1024);
  await lab.run(t.b, 'ip', ['addr', 'add', '192.168.77.3/24', 'dev', 'eth0']);
  await lab.run(t.b, 'ip', ['addr', 'del', '192.168.77.2/24', 'dev', 'eth0']);
  const moved = await t.server.waitFor(/data path now 192\.168\.77\.3:/, 10_000);
  return { ...t, lab, flow, moved };
}

test('the client\'s underlay address changes mid-transfer: the server follows it and the transfer completes byte-exact', { skip, timeout: 60_000 }, async () => {
  const { server, client, flow, moved } = await roamMidFlow('roam', 7500);
  assert.match(moved, /alice: data path now/, 'the server names the client that moved');
  await flow.reached(256 * 1024, { fromNow: true, timeoutMs: 20_000 });

  const r = await flow.finish();
  assert.ok(r.sentBytes >= 384 * 1024, `data flowed before and after the move (${r.sentBytes} bytes)`);
  assert.equal(r.receivedBytes, r.sentBytes, 'every byte arrived');
  assert.equal(r.receivedSha, r.sentSha, 'byte-exact across the move');
  assert.doesNotMatch(server.output(), /alice .*disconnected/, 'the session was never dropped');
  assert.equal(await client.stop(), 0);
  assert.equal(await server.stop(), 0);
});

test('after the client roamed, the TCP rung still carries the flow when UDP is then blocked', { skip, timeout: 60_000 }, async () => {
  const { lab, b, server, client, flow } = await roamMidFlow('roat', 7501);
  // The control connection was made from .2, which is gone: falling onto it would stall the flow.
  await lab.addDrop(b, 'output', ['udp', 'dport', '1194']);
  await client.waitFor(/transport: tcp/, 10_000);
  await flow.reached(128 * 1024, { fromNow: true, timeoutMs: 20_000 });
  const r = await flow.finish();
  assert.equal(r.receivedSha, r.sentSha, 'byte-exact across the move and the fall to TCP');
  assert.equal(await client.stop(), 0);
  assert.equal(await server.stop(), 0);
});
