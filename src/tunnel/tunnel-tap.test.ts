// TAP mode with a static key, by the real CLI in two namespaces: Ethernet
// across the tunnel, so ARP resolves the peer's MAC (`ip neigh` shows the
// other end's TAP address after traffic), ping and a byte-exact TCP transfer.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { NetnsLab, netnsMissing } from '../hostnet/netns-testing.js';
import { tempDir, underlay } from './tunnel-testing.js';
import { startStatic, staticPair, tcpTransfer, tunDevice } from './tunnel-e2e-testing.js';

const skip = netnsMissing();

let lab: NetnsLab;
let a: string;
let b: string;
let conf: { server: string; client: string };

before(async () => {
  if (skip !== undefined) return;
  lab = await NetnsLab.create('tuntap');
  ({ a, b } = await underlay(lab));
  conf = await staticPair(
    tempDir('tun-tap'),
    ['dev tap', 'ifconfig 10.1.0.1 255.255.255.0', 'secret static.key'],
    ['remote 192.168.77.1', 'dev tap', 'ifconfig 10.1.0.2 255.255.255.0', 'secret static.key'],
  );
});

after(async () => {
  if (lab !== undefined) await lab.cleanup();
});

async function mac(ns: string, dev: string): Promise<string> {
  const [link] = JSON.parse(await lab.run(ns, 'ip', ['-j', 'link', 'show', 'dev', dev])) as { address: string; link_type: string }[];
  assert.equal(link?.link_type, 'ether', `${dev} is an Ethernet (TAP) device`);
  return link.address;
}

test('TAP (static key): ARP resolves the peer, ping and a byte-exact TCP transfer across', { skip, timeout: 60_000 }, async () => {
  const server = await startStatic(lab, a, conf.server);
  const client = await startStatic(lab, b, conf.client);
  await client.waitFor(/tunnel up/);
  await server.waitFor(/tunnel up/);
  const [devA, devB] = [await tunDevice(lab, a), await tunDevice(lab, b)];

  await lab.run(b, 'ping', ['-c', '2', '-W', '5', '10.1.0.1']);
  const neigh = JSON.parse(await lab.run(a, 'ip', ['-j', 'neigh', 'show', 'dev', devA])) as { dst: string; lladdr?: string }[];
  assert.equal(neigh.find((n) => n.dst === '10.1.0.2')?.lladdr, await mac(b, devB), `a's ARP table holds b's TAP MAC: ${JSON.stringify(neigh)}`);
  const neighB = JSON.parse(await lab.run(b, 'ip', ['-j', 'neigh', 'show', 'dev', devB])) as { dst: string; lladdr?: string }[];
  assert.equal(neighB.find((n) => n.dst === '10.1.0.1')?.lladdr, await mac(a, devA), "and b's holds a's");

  const r = await tcpTransfer(lab, a, b, '10.1.0.2', 7300, 2 * 1024 * 1024);
  assert.equal(r.receivedBytes, 2 * 1024 * 1024);
  assert.equal(r.receivedSha, r.sentSha, 'byte-exact over TAP');
});
