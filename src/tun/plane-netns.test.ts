// Real TUN and TAP devices: two namespaces joined by a veth, one plane in
// each (netns-peer.js), ping across the tunnel.
//
//   [a] itun 10.77.0.1 ─ plane ─ eth0 192.168.77.1 ══ 192.168.77.2 eth0 ─ plane ─ itun 10.77.0.2 [b]
//
// Needs root and network namespaces: skipped without them, a failure under CI=true.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { NetnsLab, netnsMissing } from '../hostnet/netns-testing.js';

const PEER = fileURLToPath(new URL('./netns-peer.js', import.meta.url));
const skip = netnsMissing() ?? false;

/** The peer's stdout, line by line. */
function lines(child: ChildProcess): AsyncIterableIterator<string> {
  return createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
}

async function line(it: AsyncIterableIterator<string>, what: string): Promise<string> {
  const next = await it.next();
  assert.ok(!next.done, `the peer exited before ${what}`);
  return next.value;
}

for (const mode of ['tun', 'tap'] as const) {
  test(`ping across two planes over real ${mode.toUpperCase()} devices in namespaces`, { skip }, async () => {
    const lab = await NetnsLab.create('plane');
    try {
      const a = await lab.ns('a');
      const b = await lab.ns('b');
      await lab.veth({ ns: a, dev: 'eth0', addr4: '192.168.77.1/24' }, { ns: b, dev: 'eth0', addr4: '192.168.77.2/24' });
      const [k1, k2] = ['11'.repeat(32), '22'.repeat(32)];
      const pa = lab.node(a, PEER, [mode, '51820', '192.168.77.2', '51821', k1, k2]);
      const pb = lab.node(b, PEER, [mode, '51821', '192.168.77.1', '51820', k2, k1]);
      const outA = lines(pa);
      for (const [ns, out, n] of [[a, outA, 1], [b, lines(pb), 2]] as const) {
        const dev = await line(out, 'opening its device');
        await lab.run(ns, 'ip', ['addr', 'add', `10.77.0.${n}/24`, 'dev', dev]);
        await lab.run(ns, 'ip', ['link', 'set', dev, 'mtu', '1400', 'up']);
      }
      // 1300 B: larger than the 64 B default, smaller than the 1400 MTU.
      const ping = await lab.run(a, 'ping', ['-c', '3', '-i', '0.2', '-W', '5', '-s', '1300', '10.77.0.2']);
      assert.match(ping, / 0% packet loss/);
      pa.kill('SIGTERM');
      const stats = JSON.parse(await line(outA, 'its stats')) as { rxPackets: number; txPackets: number; drops: Record<string, number> };
      assert.ok(stats.rxPackets >= 3 && stats.txPackets >= 3, JSON.stringify(stats));
    } finally {
      await lab.cleanup();
    }
  });
}
