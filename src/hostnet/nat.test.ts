// Server NAT between three namespaces:
//
//   [client] eth0 10.8.0.2/24, fd08::2/64 ── eth0 10.8.0.1, fd08::1 [router] eth1 203.0.113.1/24, 2001:db8:1::1/64 ── eth0 203.0.113.2, 2001:db8:1::2 [internet]
//   default via the router                                           default via the internet host              (no route back to the pools)
//
// The internet host answers each TCP connection with the source address it
// sees: the router's own address once the pool is masqueraded, nothing
// before (no route back to 10.8.0.0/24, forwarding off).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { iptablesMissing, NetnsLab, netnsMissing, nftMissing, waitForLine } from './netns-testing.js';
import { enableNat, repairNat } from './nat.js';
import { readSysctl } from './sysctl.js';

const skip = netnsMissing() ?? nftMissing() ?? iptablesMissing();

interface Topo {
  client: string;
  router: string;
  internet: string;
}

async function topology(lab: NetnsLab): Promise<Topo> {
  const client = await lab.ns('client');
  const router = await lab.ns('router');
  const internet = await lab.ns('inet');
  await lab.veth({ ns: client, dev: 'eth0', addr4: '10.8.0.2/24', addr6: 'fd08::2/64' }, { ns: router, dev: 'eth0', addr4: '10.8.0.1/24', addr6: 'fd08::1/64' });
  await lab.veth({ ns: router, dev: 'eth1', addr4: '203.0.113.1/24', addr6: '2001:db8:1::1/64' }, { ns: internet, dev: 'eth0', addr4: '203.0.113.2/24', addr6: '2001:db8:1::2/64' });
  await lab.run(client, 'ip', ['route', 'add', 'default', 'via', '10.8.0.1']);
  await lab.run(client, 'ip', ['-6', 'route', 'add', 'default', 'via', 'fd08::1']);
  await lab.run(router, 'ip', ['route', 'add', 'default', 'via', '203.0.113.2']);
  await lab.run(router, 'ip', ['-6', 'route', 'add', 'default', 'via', '2001:db8:1::2']);
  await lab.whoamiServer(internet, 8080);
  return { client, router, internet };
}

function stateFile(): string {
  return join(mkdtempSync(join(tmpdir(), 'insel-nat-')), 'nat-tun0.json');
}

async function forwarding(netns: string): Promise<string[]> {
  return [await readSysctl('net.ipv4.ip_forward', { netns }), await readSysctl('net.ipv6.conf.all.forwarding', { netns })];
}

async function assertNatWorks(lab: NetnsLab, t: Topo): Promise<void> {
  assert.equal(await lab.tcpRead(t.client, '203.0.113.2', 8080), '::ffff:203.0.113.1', 'the internet sees the router, not 10.8.0.2');
  assert.equal(await lab.tcpRead(t.client, '2001:db8:1::2', 8080), '2001:db8:1::1', 'and over IPv6 too');
}

for (const backend of ['nft', 'iptables'] as const) {
  test(`NAT with ${backend}: the pool is masqueraded towards the default route's interface; undo removes the rules and restores forwarding`, { skip }, async () => {
    const lab = await NetnsLab.create('nat');
    try {
      const t = await topology(lab);
      await assert.rejects(lab.tcpRead(t.client, '203.0.113.2', 8080, 300), /timeout|unreachable/i, 'no way through before NAT');
      const file = stateFile();
      const undo = await enableNat({ pool4: '10.8.0.0/24', pool6: 'fd08::/64', name: 'tun0', stateFile: file, backend, netns: t.router });
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.deepEqual(await forwarding(t.router), ['1', '1']);
      await assertNatWorks(lab, t);
      if (backend === 'nft') {
        assert.match(await lab.run(t.router, 'nft', ['list', 'ruleset']), /table inet insel-tun0[\s\S]*ip saddr 10\.8\.0\.0\/24 oifname "eth1" masquerade/);
      } else {
        assert.match(await lab.run(t.router, 'iptables', ['-t', 'nat', '-S', 'POSTROUTING']), /-s 10\.8\.0\.0\/24 -o eth1 -m comment --comment insel-tun0 -j MASQUERADE/);
        assert.match(await lab.run(t.router, 'ip6tables', ['-t', 'nat', '-S', 'POSTROUTING']), /-s fd08::\/64 -o eth1 .*MASQUERADE/);
      }

      await undo();
      await undo(); // idempotent
      assert.doesNotMatch(await lab.run(t.router, 'nft', ['list', 'ruleset']), /insel-tun0|masquerade/i);
      for (const cmd of ['iptables', 'ip6tables']) assert.doesNotMatch(await lab.run(t.router, cmd, ['-t', 'nat', '-S', 'POSTROUTING']), /MASQUERADE/);
      assert.deepEqual(await forwarding(t.router), ['0', '0']);
      assert.ok(!existsSync(file));
    } finally {
      await lab.cleanup();
    }
  });
}

test('NAT with a named outside interface and a v4 pool only leaves IPv6 forwarding alone', { skip }, async () => {
  const lab = await NetnsLab.create('nat');
  try {
    const t = await topology(lab);
    const undo = await enableNat({ pool4: '10.8.0.0/24', outIf: 'eth1', name: 'tun0', stateFile: stateFile(), netns: t.router });
    assert.deepEqual(await forwarding(t.router), ['1', '0']);
    assert.equal(await lab.tcpRead(t.client, '203.0.113.2', 8080), '::ffff:203.0.113.1');
    await undo();
    assert.deepEqual(await forwarding(t.router), ['0', '0']);
  } finally {
    await lab.cleanup();
  }
});

test('NAT crash repair: a SIGKILLed server leaves its table and forwarding; repairNat removes and restores them', { skip }, async () => {
  const lab = await NetnsLab.create('nat');
  try {
    const t = await topology(lab);
    const file = stateFile();
    const mod = new URL('./nat.js', import.meta.url).href;
    const code = `const m = await import(${JSON.stringify(mod)}); await m.enableNat({ pool4: '10.8.0.0/24', pool6: 'fd08::/64', name: 'tun0', stateFile: ${JSON.stringify(file)} }); console.log('applied'); setInterval(() => {}, 1e6);`;
    const child = lab.node(t.router, '--input-type=module', ['-e', code]);
    await waitForLine(child, 'applied');
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));

    await assertNatWorks(lab, t); // left behind by the crash
    assert.equal(await repairNat(file, { netns: t.router }), true);
    assert.doesNotMatch(await lab.run(t.router, 'nft', ['list', 'ruleset']), /insel-tun0/);
    assert.deepEqual(await forwarding(t.router), ['0', '0']);
    assert.equal(await repairNat(file, { netns: t.router }), false, 'nothing left');
  } finally {
    await lab.cleanup();
  }
});

test('NAT refuses a malformed pool or interface name before changing anything', async () => {
  await assert.rejects(enableNat({ pool4: '10.8.0.0/33', stateFile: stateFile() }), /not an IPv4 prefix/);
  await assert.rejects(enableNat({ pool4: 'fd08::/64', stateFile: stateFile() }), /not an IPv4 prefix/);
  await assert.rejects(enableNat({ pool4: '10.8.0.0/24', outIf: 'eth0"; flush ruleset', stateFile: stateFile() }), /not an interface name/);
  await assert.rejects(enableNat({ stateFile: stateFile() }), /no address pool/);
});
