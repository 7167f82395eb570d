// Seed 004's static-key pair, the files' lines unchanged (their names carry the pid: staticPair), run by the real CLI
// in two namespaces (a = 192.168.77.1 server, b = .2 client):
// reachability across the tunnel, a byte-exact 5 MiB TCP transfer, and an
// end that restarts (SIGTERM, start again) brings the tunnel back.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { NetnsLab, netnsMissing } from '../hostnet/netns-testing.js';
import { tempDir, underlay, type TunnelProc } from './tunnel-testing.js';
import { startStatic, staticPair, tcpTransfer } from './tunnel-e2e-testing.js';

const skip = netnsMissing();

const SERVER_CONF = ['dev tun', 'ifconfig 10.0.0.1 10.0.0.2', 'secret static.key', 'comp-lzo'];
const CLIENT_CONF = ['remote 192.168.77.1', 'dev tun', 'ifconfig 10.0.0.2 10.0.0.1', 'secret static.key', 'comp-lzo'];

let lab: NetnsLab;
let a: string;
let b: string;
let serverConf: string;
let clientConf: string;

before(async () => {
  if (skip !== undefined) return;
  lab = await NetnsLab.create('tunstatic');
  ({ a, b } = await underlay(lab));
  ({ server: serverConf, client: clientConf } = await staticPair(tempDir('tun-static'), SERVER_CONF, CLIENT_CONF));
});

after(async () => {
  if (lab !== undefined) await lab.cleanup();
});

function start(ns: string, conf: string): Promise<TunnelProc> {
  return startStatic(lab, ns, conf);
}

test('static key (seed 004 files): reachable across, byte-exact 5 MiB, and back after one end restarts', { skip, timeout: 60_000 }, async () => {
  const server = await start(a, serverConf);
  let client = await start(b, clientConf);
  await client.waitFor(/tunnel up/);
  await server.waitFor(/tunnel up/);
  assert.match(server.output(), /comp-lzo/, 'the compression warning is printed');

  await lab.whoamiServer(a, 7001);
  assert.equal(await lab.tcpRead(b, '10.0.0.1', 7001), '::ffff:10.0.0.2', 'the server sees the client by its tunnel address');
  await lab.whoamiServer(b, 7002);
  assert.equal(await lab.tcpRead(a, '10.0.0.2', 7002), '::ffff:10.0.0.1', 'and the other way round');
  await lab.run(b, 'ping', ['-c', '1', '-W', '5', '10.0.0.1']);

  const r = await tcpTransfer(lab, b, a, '10.0.0.1', 7003, 5 * 1024 * 1024);
  assert.equal(r.receivedBytes, 5 * 1024 * 1024);
  assert.equal(r.receivedSha, r.sentSha, 'the transfer is byte-exact');

  // The client restarts: a new session id, learned by the server from its first datagram.
  assert.equal(await client.stop('SIGTERM'), 0, 'SIGTERM exits 0');
  client = await start(b, clientConf);
  await client.waitFor(/tunnel up/);
  assert.equal(await lab.tcpRead(b, '10.0.0.1', 7001), '::ffff:10.0.0.2', 'reachable after the client restarted');

  // The server restarts: the client keeps sending to it and the new server learns it.
  assert.equal(await server.stop('SIGTERM'), 0);
  const server2 = await start(a, serverConf);
  await server2.waitFor(/tunnel up/, 20_000);
  await lab.whoamiServer(a, 7004);
  assert.equal(await lab.tcpRead(b, '10.0.0.1', 7004, 10_000), '::ffff:10.0.0.2', 'reachable after the server restarted');
  const r2 = await tcpTransfer(lab, a, b, '10.0.0.2', 7005, 1024 * 1024);
  assert.equal(r2.receivedSha, r2.sentSha);
});
