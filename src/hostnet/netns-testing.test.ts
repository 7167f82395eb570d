// The namespace fixture itself: a veth pair with v4/v6 and MTU carries TCP,
// a drop rule blocks it and its removal unblocks it, cleanup kills spawned
// programs and deletes the namespaces, and a crashed run's leftovers go.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { NetnsLab, netnsMissing, nftMissing } from './netns-testing.js';

const skip = netnsMissing() ?? nftMissing();

function namespaces(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n !== '');
}

test('two namespaces over veth: v4 and v6 TCP, MTU, a drop rule, cleanup', { skip }, async () => {
  const lab = await NetnsLab.create('fixture');
  try {
    const a = await lab.ns('a');
    const b = await lab.ns('b');
    await lab.veth({ ns: a, dev: 'eth0', addr4: '10.201.0.1/24', addr6: 'fd14::1/64', mtu: 1280 }, { ns: b, dev: 'eth0', addr4: '10.201.0.2/24', addr6: 'fd14::2/64', mtu: 1280 });
    assert.match(await lab.run(a, 'ip', ['link', 'show', 'eth0']), /mtu 1280/);
    const server = await lab.whoamiServer(b, 8080);
    assert.equal(await lab.tcpRead(a, '10.201.0.2', 8080), '::ffff:10.201.0.1');
    assert.equal(await lab.tcpRead(a, 'fd14::2', 8080), 'fd14::1');

    const handle = await lab.addDrop(b, 'input', ['tcp', 'dport', '8080']);
    await assert.rejects(lab.tcpRead(a, '10.201.0.2', 8080, 300), /timeout/);
    await lab.removeDrop(b, 'input', handle);
    assert.equal(await lab.tcpRead(a, '10.201.0.2', 8080), '::ffff:10.201.0.1');

    await lab.cleanup();
    assert.ok(server.exitCode !== null || server.signalCode !== null, 'the spawned server was killed');
    assert.deepEqual(namespaces().filter((n) => n.startsWith(lab.prefix)), []);
  } finally {
    await lab.cleanup();
  }
});

test('a bridge namespace joins three namespaces on one segment', { skip }, async () => {
  const lab = await NetnsLab.create('fixture');
  try {
    const hub = await lab.ns('hub');
    await lab.bridge(hub, 'br0');
    const names = ['x', 'y', 'z'];
    const ns: string[] = [];
    for (const [i, n] of names.entries()) {
      ns.push(await lab.ns(n));
      await lab.veth({ ns: ns[i]!, dev: 'eth0', addr4: `10.202.0.${i + 1}/24` }, { ns: hub, dev: `p${n}`, bridge: 'br0' });
    }
    await lab.whoamiServer(ns[2]!, 8081);
    assert.equal(await lab.tcpRead(ns[0]!, '10.202.0.3', 8081), '::ffff:10.202.0.1');
    assert.equal(await lab.tcpRead(ns[1]!, '10.202.0.3', 8081), '::ffff:10.202.0.2');
  } finally {
    await lab.cleanup();
  }
});

test("a crashed run's namespaces are removed by the next create of the same part", { skip }, async () => {
  const dead = spawnSync('true').pid; // a pid that has exited
  const leftover = `i14-fixture-${dead}-1-a`;
  execFileSync('ip', ['netns', 'add', leftover]);
  try {
    const lab = await NetnsLab.create('fixture');
    await lab.cleanup();
    assert.ok(!namespaces().includes(leftover));
  } finally {
    spawnSync('ip', ['netns', 'del', leftover], { stdio: 'ignore' });
  }
});
