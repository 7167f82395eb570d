// Full tunnel, seed 002's evaluation, with the real CLI in three namespaces:
//
//   client c ── 192.168.77.0/24 ── server s (router, nat eth1) ── 203.0.113.0/24 ── internet i
//
// The client's only way to the internet host is a default route; the server
// pushes redirect-gateway def1 and masquerades the pool towards eth1, so the
// internet host (a whoami server) sees the VPN server's outside address. The
// client's routes are exactly as before after it exits, and after a SIGKILL
// the next start repairs what the killed run left.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { NetnsLab, netnsMissing, nftMissing } from '../hostnet/netns-testing.js';
import { routeTables, uniqueDev } from './tunnel-flow-testing.js';
import { startTunnel, tempDir, tunnelPki, writeConfig } from './tunnel-testing.js';

const skip = netnsMissing() ?? nftMissing();

let lab: NetnsLab;
let c: string;
let s: string;
let i: string;
let serverConf: string;
let clientConf: string;

before(async () => {
  if (skip !== undefined) return;
  lab = await NetnsLab.create('tunfull');
  [c, s, i] = [await lab.ns('c'), await lab.ns('s'), await lab.ns('i')];
  await lab.veth({ ns: c, dev: 'eth0', addr4: '192.168.77.2/24', addr6: 'fd77::2/64' }, { ns: s, dev: 'eth0', addr4: '192.168.77.1/24', addr6: 'fd77::1/64' });
  await lab.veth({ ns: s, dev: 'eth1', addr4: '203.0.113.1/24', addr6: '2001:db8:99::1/64' }, { ns: i, dev: 'eth0', addr4: '203.0.113.2/24', addr6: '2001:db8:99::2/64' });
  // The client reaches the world through the server as its router; the internet host has no route back to 192.168.77.0/24.
  await lab.run(c, 'ip', ['route', 'add', 'default', 'via', '192.168.77.1']);
  await lab.run(c, 'ip', ['-6', 'route', 'add', 'default', 'via', 'fd77::1']);
  const dir = tempDir('tun-full');
  const pki = await tunnelPki(dir, { serverHosts: ['192.168.77.1'], clients: ['alice'] });
  serverConf = writeConfig(join(dir, 'server'), 'server.conf', [
    `dev ${uniqueDev('fulls')}`,
    'server 10.8.0.0 255.255.255.0',
    'server-ipv6 fd00:8::/64',
    `profile ${pki.profile['vpn']}`,
    'nat eth1',
    'push "redirect-gateway def1"',
    `status-socket ${join(dir, 'server.sock')}`,
  ]);
  clientConf = writeConfig(join(dir, 'client'), 'client.conf', [
    'client',
    `dev ${uniqueDev('fullc')}`,
    'remote 192.168.77.1',
    `profile ${pki.profile['alice']}`,
    `status-socket ${join(dir, 'client.sock')}`,
  ]);
});

after(async () => {
  if (lab !== undefined) await lab.cleanup();
});

test('full tunnel: the internet sees the server, and the client\'s routes come back after exit and after a SIGKILL', { skip, timeout: 90_000 }, async () => {
  await lab.whoamiServer(i, 8080);
  const routesBefore = await routeTables(lab, c);
  await assert.rejects(lab.tcpRead(c, '203.0.113.2', 8080, 1500), 'without the tunnel the internet host cannot answer the client');

  const server = startTunnel(lab, s, serverConf);
  await server.waitFor(/server on /);
  let client = startTunnel(lab, c, clientConf);
  await client.waitFor(/all traffic now goes through the tunnel/);
  assert.equal(await lab.tcpRead(c, '203.0.113.2', 8080), '::ffff:203.0.113.1', 'IPv4: the internet host sees the VPN server\'s outside address');
  assert.equal(await lab.tcpRead(c, '2001:db8:99::2', 8080), '2001:db8:99::1', 'IPv6: the same');
  const during = await routeTables(lab, c);
  assert.ok(JSON.stringify(during.v4).includes('"0.0.0.0/1"') && JSON.stringify(during.v4).includes('"128.0.0.0/1"'), `the def1 routes are there: ${JSON.stringify(during.v4)}`);

  assert.equal(await client.stop('SIGTERM'), 0, 'SIGTERM exits 0');
  assert.deepEqual(await routeTables(lab, c), routesBefore, 'after SIGTERM the client\'s routes are exactly as before');

  client = startTunnel(lab, c, clientConf);
  await client.waitFor(/all traffic now goes through the tunnel/);
  assert.equal(await lab.tcpRead(c, '203.0.113.2', 8080), '::ffff:203.0.113.1');
  assert.equal(await client.stop('SIGKILL'), null, 'killed');
  assert.notDeepEqual(await routeTables(lab, c), routesBefore, 'a SIGKILL leaves the host route to the server behind');

  client = startTunnel(lab, c, clientConf);
  await client.waitFor(/undid what a crashed earlier run left/);
  await client.waitFor(/all traffic now goes through the tunnel/);
  assert.equal(await lab.tcpRead(c, '203.0.113.2', 8080), '::ffff:203.0.113.1', 'works again after the repair');
  assert.equal(await client.stop('SIGTERM'), 0);
  assert.deepEqual(await routeTables(lab, c), routesBefore, 'after SIGKILL, restart and SIGTERM the routes are exactly as before');

  assert.equal(await server.stop('SIGTERM'), 0);
  const nft = await lab.run(s, 'nft', ['list', 'tables']);
  assert.doesNotMatch(nft, /insel-/, 'the server removed its NAT table');
});
