// Real TUN and TAP devices: two namespaces joined by a veth, one plane in
// each (netns-peer.js), ping across the tunnel.
//
//   [ns a] itun 10.77.0.1 ─ plane ─ veth 192.168.77.1 ══ 192.168.77.2 veth ─ plane ─ itun 10.77.0.2 [ns b]
//
// Needs root and /dev/net/tun: skipped without them, a failure under CI=true.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const PEER = fileURLToPath(new URL('./netns-peer.js', import.meta.url));
const capable = process.getuid?.() === 0 && existsSync('/dev/net/tun');
const skip = !capable && process.env.CI !== 'true' ? 'needs root and /dev/net/tun' : false;
let serial = 0;

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

async function startPeer(ns: string, args: string[]): Promise<{ child: ChildProcess; dev: string; lines: AsyncIterableIterator<string> }> {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, PEER, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const first = await lines.next();
  assert.ok(!first.done, `the peer in ${ns} exited before opening its device`);
  return { child, dev: first.value, lines };
}

for (const mode of ['tun', 'tap'] as const) {
  test(`ping across two planes over real ${mode.toUpperCase()} devices in namespaces`, { skip }, async () => {
    assert.ok(capable, 'CI=true: root and /dev/net/tun are required');
    const id = `i14-plane-${process.pid}-${serial++}`;
    const [a, b] = [`${id}-a`, `${id}-b`];
    const children: ChildProcess[] = [];
    try {
      ip('netns', 'add', a);
      ip('netns', 'add', b);
      ip('link', 'add', `${id.slice(-6)}a`, 'netns', a, 'type', 'veth', 'peer', 'name', `${id.slice(-6)}b`, 'netns', b);
      for (const [ns, n] of [[a, 1], [b, 2]] as const) {
        ip('-n', ns, 'addr', 'add', `192.168.77.${n}/24`, 'dev', `${id.slice(-6)}${n === 1 ? 'a' : 'b'}`);
        ip('-n', ns, 'link', 'set', `${id.slice(-6)}${n === 1 ? 'a' : 'b'}`, 'up');
        ip('-n', ns, 'link', 'set', 'lo', 'up');
      }
      const k1 = '11'.repeat(32);
      const k2 = '22'.repeat(32);
      const pa = await startPeer(a, [mode, '51820', '192.168.77.2', '51821', k1, k2]);
      children.push(pa.child);
      const pb = await startPeer(b, [mode, '51821', '192.168.77.1', '51820', k2, k1]);
      children.push(pb.child);
      for (const [ns, p, n] of [[a, pa, 1], [b, pb, 2]] as const) {
        ip('-n', ns, 'addr', 'add', `10.77.0.${n}/24`, 'dev', p.dev);
        ip('-n', ns, 'link', 'set', p.dev, 'mtu', '1400', 'up');
      }
      const out = execFileSync('ip', ['netns', 'exec', a, 'ping', '-c', '3', '-i', '0.2', '-W', '5', '-s', '1300', '10.77.0.2'], { encoding: 'utf8' });
      assert.match(out, / 0% packet loss/);
      pa.child.stdin!.end();
      const stats = JSON.parse((await pa.lines.next()).value as string) as { rxPackets: number; txPackets: number };
      assert.ok(stats.rxPackets >= 3 && stats.txPackets >= 3, JSON.stringify(stats));
    } finally {
      for (const c of children) {
        if (c.exitCode === null) {
          c.stdin!.end();
          const exited = once(c, 'exit');
          const timer = setTimeout(() => c.kill('SIGKILL'), 5000);
          await exited;
          clearTimeout(timer);
        }
      }
      for (const ns of [a, b]) {
        try {
          ip('netns', 'del', ns); // takes its veth end and TUN device with it
        } catch {
          // not created
        }
      }
    }
  });
}
