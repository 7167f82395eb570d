// Real TUN and TAP devices: two namespaces joined by a veth, one plane in
// each (netns-peer.js), ping across the tunnel; with TUN offloads on both
// ends, 20 MiB over TCP (IPv4 and IPv6) arrive byte for byte.
//
//   [a] itun 10.77.0.1 ─ plane ─ eth0 192.168.77.1 ══ 192.168.77.2 eth0 ─ plane ─ itun 10.77.0.2 [b]
//
// Needs root and network namespaces: skipped without them, a failure under CI=true.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
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

type Mode = 'tun' | 'tun-offload' | 'tap';

/** Two namespaces a and b, each with a plane (netns-peer.js) on a device 10.77.0.n/24, fd77::n/64, MTU 1400. */
async function tunnel(lab: NetnsLab, mode: Mode): Promise<{ a: string; b: string; outA: AsyncIterableIterator<string>; pa: ChildProcess }> {
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
    await lab.run(ns, 'ip', ['-6', 'addr', 'add', `fd77::${n}/64`, 'dev', dev, 'nodad']);
    await lab.run(ns, 'ip', ['link', 'set', dev, 'mtu', '1400', 'up']);
  }
  return { a, b, outA, pa };
}

for (const mode of ['tun', 'tap'] as const) {
  test(`ping across two planes over real ${mode.toUpperCase()} devices in namespaces`, { skip }, async () => {
    const lab = await NetnsLab.create('plane');
    try {
      const { a, outA, pa } = await tunnel(lab, mode);
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

// 20 MiB of a fixed pattern; the receiver prints the sha256 and length of what came.
const BYTES = 20 * 1024 * 1024;
const SINK = `const h=require('crypto').createHash('sha256');let n=0;const s=require('net').createServer(c=>{c.on('data',d=>{h.update(d);n+=d.length});c.on('end',()=>{console.log(h.digest('hex')+' '+n);s.close()})});s.listen(5201,'::',()=>console.log('listening'))`;
const SOURCE = `const b=Buffer.alloc(${BYTES});for(let i=0;i<b.length;i++)b[i]=(i*7+(i>>>13))&255;const c=require('net').connect({host:process.argv[1],port:5201},()=>c.end(b));c.on('error',e=>{console.error(e.message);process.exit(1)})`;

function pattern(): string {
  const b = Buffer.alloc(BYTES);
  for (let i = 0; i < b.length; i++) b[i] = (i * 7 + (i >>> 13)) & 255;
  return `${createHash('sha256').update(b).digest('hex')} ${BYTES}`;
}

test('TUN offloads on both ends: 20 MiB over TCP arrive byte for byte, IPv4 and IPv6', { skip }, async () => {
  const lab = await NetnsLab.create('planegso');
  try {
    const { a, b, outA, pa } = await tunnel(lab, 'tun-offload');
    const want = pattern();
    for (const host of ['10.77.0.2', 'fd77::2']) {
      const sink = lab.node(b, '-e', [SINK]);
      const got = lines(sink);
      assert.equal(await line(got, 'listening'), 'listening');
      await lab.runNode(a, ['-e', SOURCE, host], { timeoutMs: 120_000 });
      assert.equal(await line(got, 'the sha256 of what came'), want, `over ${host}`);
    }
    pa.kill('SIGTERM');
    const stats = JSON.parse(await line(outA, 'its stats')) as { txPackets: number; drops: Record<string, number> };
    assert.ok(stats.txPackets > (2 * BYTES) / 1400, JSON.stringify(stats));
  } finally {
    await lab.cleanup();
  }
});
