// redirect-gateway def1 in a client namespace whose default route goes via a
// gateway namespace:
//
//   [client] eth0 10.210.0.2/24, fd10::2/64 ── veth ── eth0 10.210.0.1, fd10::1 [gw]
//            tun0 (TUN, 10.8.0.2/24)          default via 10.210.0.1 / fd10::1
//
// The server 198.51.100.7 (and 2001:db8:5::7) lies beyond the gateway.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetnsLab, netnsMissing, waitForLine } from './netns-testing.js';
import { addRoute, listRoutes, routeGet } from './ip.js';
import { redirectGateway, repairRoutes } from './redirect-gateway.js';

const skip = netnsMissing();
const SERVER4 = '198.51.100.7';
const SERVER6 = '2001:db8:5::7';

async function clientLab(lab: NetnsLab): Promise<string> {
  const client = await lab.ns('client');
  const gw = await lab.ns('gw');
  await lab.veth({ ns: client, dev: 'eth0', addr4: '10.210.0.2/24', addr6: 'fd10::2/64' }, { ns: gw, dev: 'eth0', addr4: '10.210.0.1/24', addr6: 'fd10::1/64' });
  await lab.run(client, 'ip', ['route', 'add', 'default', 'via', '10.210.0.1']);
  await lab.run(client, 'ip', ['-6', 'route', 'add', 'default', 'via', 'fd10::1']);
  // A persistent TUN device: it stays when no process holds it, like the daemon's while the daemon runs.
  await lab.run(client, 'ip', ['tuntap', 'add', 'dev', 'tun0', 'mode', 'tun']);
  await lab.run(client, 'ip', ['addr', 'add', '10.8.0.2/24', 'dev', 'tun0']);
  await lab.run(client, 'ip', ['link', 'set', 'tun0', 'up']);
  return client;
}

async function snapshot(netns: string): Promise<string[]> {
  return [...(await listRoutes(4, { netns })), ...(await listRoutes(6, { netns }))].sort();
}

function stateFile(): string {
  return join(mkdtempSync(join(tmpdir(), 'insel-redirect-')), 'redirect-tun0.json');
}

test('redirect-gateway def1 with IPv6: host route via the original gateway, /1 routes via the tunnel; undo restores', { skip }, async () => {
  const lab = await NetnsLab.create('redirect');
  try {
    const netns = await clientLab(lab);
    const before = await snapshot(netns);
    const file = stateFile();
    const undo = await redirectGateway(SERVER4, 'tun0', true, file, { netns });
    assert.equal(statSync(file).mode & 0o777, 0o600, 'state file is 0600');

    assert.deepEqual(await routeGet(SERVER4, { netns }), { gateway: '10.210.0.1', dev: 'eth0', src: '10.210.0.2' });
    assert.equal((await routeGet('8.8.8.8', { netns })).dev, 'tun0');
    assert.equal((await routeGet('200.1.2.3', { netns })).dev, 'tun0');
    assert.equal((await routeGet('2001:db8:99::1', { netns })).dev, 'tun0');
    assert.equal((await routeGet('fd10::1', { netns })).dev, 'eth0', 'the local subnet stays local');

    await undo();
    await undo(); // idempotent
    assert.deepEqual(await snapshot(netns), before);
    assert.ok(!existsSync(file), 'state file removed');
  } finally {
    await lab.cleanup();
  }
});

test('an IPv6 server gets a /128 host route via the original v6 gateway', { skip }, async () => {
  const lab = await NetnsLab.create('redirect');
  try {
    const netns = await clientLab(lab);
    const before = await snapshot(netns);
    const undo = await redirectGateway(SERVER6, 'tun0', true, stateFile(), { netns });
    assert.deepEqual(await routeGet(SERVER6, { netns }), { gateway: 'fd10::1', dev: 'eth0', src: 'fd10::2' });
    assert.equal((await routeGet('2001:db8:5::8', { netns })).dev, 'tun0');
    await undo();
    assert.deepEqual(await snapshot(netns), before);
  } finally {
    await lab.cleanup();
  }
});

test('a host route to the server that existed before is kept by undo', { skip }, async () => {
  const lab = await NetnsLab.create('redirect');
  try {
    const netns = await clientLab(lab);
    await addRoute({ dst: `${SERVER4}/32`, via: '10.210.0.1', dev: 'eth0' }, { netns });
    const before = await snapshot(netns);
    const undo = await redirectGateway(SERVER4, 'tun0', false, stateFile(), { netns });
    await undo();
    assert.deepEqual(await snapshot(netns), before);
  } finally {
    await lab.cleanup();
  }
});

test('crash repair: a SIGKILLed client leaves its routes; repairRoutes restores the routes from before', { skip }, async () => {
  const lab = await NetnsLab.create('redirect');
  try {
    const netns = await clientLab(lab);
    const before = await snapshot(netns);
    const file = stateFile();
    const mod = new URL('./redirect-gateway.js', import.meta.url).href;
    // Runs inside the namespace, so no netns option: exactly what the daemon does.
    const code = `const m = await import(${JSON.stringify(mod)}); await m.redirectGateway(${JSON.stringify(SERVER4)}, 'tun0', true, ${JSON.stringify(file)}); console.log('applied'); setInterval(() => {}, 1e6);`;
    const child = lab.node(netns, '--input-type=module', ['-e', code]);
    await waitForLine(child, 'applied');
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));

    assert.equal((await routeGet('8.8.8.8', { netns })).dev, 'tun0', 'the crashed run left its routes');
    const repaired = await repairRoutes(file, { netns });
    assert.equal(repaired.length, 5);
    assert.deepEqual(await snapshot(netns), before);
    assert.ok(!existsSync(file));
    assert.deepEqual(await repairRoutes(file, { netns }), [], 'nothing left to repair');
  } finally {
    await lab.cleanup();
  }
});

test('the /1 routes vanish with the tunnel device; only the host route needs repair; a new start repairs it first', { skip }, async () => {
  const lab = await NetnsLab.create('redirect');
  try {
    const netns = await clientLab(lab);
    const before = await snapshot(netns);
    const file = stateFile();
    await redirectGateway(SERVER4, 'tun0', true, file, { netns });
    await lab.run(netns, 'ip', ['link', 'del', 'tun0']); // what the kernel does when the daemon's TUN fd closes
    const left = await snapshot(netns);
    assert.ok(left.includes(`${SERVER4} via 10.210.0.1 dev eth0`));
    assert.ok(!left.some((r) => r.includes('tun0')), `no route via tun0 is left: ${left.join('; ')}`);

    // The next start: a new tun0, and redirectGateway repairs the stale state before applying.
    await lab.run(netns, 'ip', ['tuntap', 'add', 'dev', 'tun0', 'mode', 'tun']);
    await lab.run(netns, 'ip', ['link', 'set', 'tun0', 'up']);
    const undo = await redirectGateway(SERVER4, 'tun0', false, file, { netns });
    await undo();
    assert.deepEqual((await snapshot(netns)).filter((r) => !r.includes('tun0')), before.filter((r) => !r.includes('tun0')));
  } finally {
    await lab.cleanup();
  }
});
