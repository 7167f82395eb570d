// ip.ts in a namespace: a TUN device's MTU, point-to-point v4 and v6
// addresses, routes added, looked up and deleted; errors that name the
// command. Plus the state files and the command runner underneath.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { CommandError, HostnetError } from './errors.js';
import { run } from './exec.js';
import { addAddress, addRoute, defaultRoute, delRoute, ip, isDeviceName, replaceAddress, replaceRoute, routeGet, setLink } from './ip.js';
import { NetnsLab, netnsMissing } from './netns-testing.js';
import { readState, stateFilePath } from './state-file.js';

const skip = netnsMissing();

test('a TUN device: MTU and up, "ifconfig L R" as a point-to-point address, IPv6, routes', { skip }, async () => {
  const lab = await NetnsLab.create('ip');
  try {
    const netns = await lab.ns('a');
    await lab.run(netns, 'ip', ['tuntap', 'add', 'dev', 'tun0', 'mode', 'tun']);
    await setLink('tun0', { mtu: 1400, up: true }, { netns });
    await addAddress('tun0', '10.0.0.1', '10.0.0.2', { netns });
    await addAddress('tun0', 'fd00:14::1/64', undefined, { netns });
    const [link] = JSON.parse(await ip(['-j', 'addr', 'show', 'dev', 'tun0'], { netns })) as { mtu: number; flags: string[]; addr_info: { local: string; address?: string; prefixlen: number }[] }[];
    assert.equal(link?.mtu, 1400);
    assert.ok(link?.flags.includes('UP'));
    assert.deepEqual(
      link?.addr_info.filter((a) => !a.local.startsWith('fe80')).map((a) => [a.local, a.address, a.prefixlen]),
      [['10.0.0.1', '10.0.0.2', 32], ['fd00:14::1', undefined, 64]],
    );

    await replaceAddress('tun0', 'fd00:14::1/64', undefined, { netns }); // applied again: no error
    assert.equal(await defaultRoute(4, { netns }), undefined, 'no default route yet');
    await addRoute({ dst: '192.0.2.0/24', via: '10.0.0.2', dev: 'tun0' }, { netns });
    await addRoute({ dst: 'default', dev: 'tun0' }, { netns });
    await assert.rejects(addRoute({ dst: '192.0.2.0/24', via: '10.0.0.2', dev: 'tun0' }, { netns }), /File exists/);
    await replaceRoute({ dst: '192.0.2.0/24', via: '10.0.0.2', dev: 'tun0' }, { netns });
    assert.deepEqual(await routeGet('192.0.2.9', { netns }), { gateway: '10.0.0.2', dev: 'tun0', src: '10.0.0.1' });
    assert.deepEqual(await defaultRoute(4, { netns }), { dev: 'tun0' });
    assert.equal(await delRoute({ dst: '192.0.2.0/24', via: '10.0.0.2', dev: 'tun0' }, { netns }), true);
    assert.equal(await delRoute({ dst: '192.0.2.0/24', via: '10.0.0.2', dev: 'tun0' }, { netns }), false, 'already gone');

    const err = await addRoute({ dst: '198.51.100.0/24', dev: 'nosuch0' }, { netns }).catch((e: unknown) => e);
    assert.ok(err instanceof CommandError);
    assert.match(err.message, /^`ip -n \S+ route add 198\.51\.100\.0\/24 dev nosuch0` failed \(exit \d+\): Cannot find device "nosuch0"; is iproute2 installed/);
    await assert.rejects(routeGet('example.org', { netns }), HostnetError);
  } finally {
    await lab.cleanup();
  }
});

test('a program that is not installed is a CommandError without an exit code', async () => {
  const err = await run('insel-no-such-program', ['x']).catch((e: unknown) => e);
  assert.ok(err instanceof CommandError);
  assert.equal(err.exitCode, null);
  assert.match(err.message, /^`insel-no-such-program x` could not run: insel-no-such-program not found/);
});

test('device names and state file names are checked; a malformed state file is a HostnetError', () => {
  assert.equal(isDeviceName('tun0'), true);
  assert.equal(isDeviceName('eth0.100'), true);
  for (const bad of ['', 'a/b', 'a b', '.', '..', 'x'.repeat(16), 'eth0:1', 'a"b', 'a;b', 'a{b']) assert.equal(isDeviceName(bad), false, bad);
  assert.equal(stateFilePath('redirect', 'tun0'), '/run/insel/redirect-tun0.json');
  assert.throws(() => stateFilePath('redirect', '../etc'), HostnetError);
  const dir = mkdtempSync(join(tmpdir(), 'insel-state-'));
  const schema = z.strictObject({ version: z.literal(1) });
  assert.equal(readState(join(dir, 'none.json'), schema), undefined);
  writeFileSync(join(dir, 'bad.json'), '{"version":1');
  assert.throws(() => readState(join(dir, 'bad.json'), schema), /is not JSON/);
  writeFileSync(join(dir, 'odd.json'), '{"version":2}');
  assert.throws(() => readState(join(dir, 'odd.json'), schema), /is malformed/);
});
