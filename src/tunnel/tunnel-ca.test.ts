// A CA server and three clients, each in its own namespace on one bridged
// underlay (starUnderlay), run by the real CLI: distinct v4 and v6 pool
// addresses, the same ones after a client reconnects and after a server
// restart (ifconfig-pool-persist; one client reconnects on its own, the
// others start again in another order), and client-to-client off (a client
// cannot reach another's pool address) and on (it can).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { type NetnsLab, netnsMissing } from '../hostnet/netns-testing.js';
import { type TunnelPki, type TunnelProc } from './tunnel-testing.js';
import { caClientConfig, caLab, caServerConfig, deviceAddresses, startCaClient, startCaServer, tcpConnects, tunDevice, waitForCount } from './tunnel-e2e-testing.js';

const skip = netnsMissing();
const NAMES = ['alice', 'bob', 'carol'] as const;
type Name = (typeof NAMES)[number];

let lab: NetnsLab;
let srvNs: string;
let ns: Record<Name, string>;
let dir: string;
let pki: TunnelPki;
const clientConf = {} as Record<Name, string>;

before(async () => {
  if (skip !== undefined) return;
  ({ lab, srv: srvNs, clients: ns, dir, pki } = await caLab('tunca', NAMES));
  for (const name of NAMES) clientConf[name] = caClientConfig(dir, name, pki.profile[name] as string);
});

after(async () => {
  if (lab !== undefined) await lab.cleanup();
});

function serverConf(clientToClient: boolean): string {
  return caServerConfig(dir, pki.profile['vpn'] as string, [`ifconfig-pool-persist ${join(dir, 'server', 'ipp.txt')}`, ...(clientToClient ? ['client-to-client'] : [])]);
}

function startServer(clientToClient: boolean): Promise<TunnelProc> {
  return startCaServer(lab, srvNs, serverConf(clientToClient));
}

function startClient(name: Name): Promise<TunnelProc> {
  return startCaClient(lab, ns[name], clientConf[name]);
}

/** Each client's pool addresses as its device has them, as "v4 v6". */
async function addresses(): Promise<Record<Name, string>> {
  const out = {} as Record<Name, string>;
  for (const name of NAMES) {
    const a = await deviceAddresses(lab, ns[name], await tunDevice(lab, ns[name]));
    assert.equal(a.v4.length, 1, `${name} has one IPv4 address: ${a.v4}`);
    assert.equal(a.v6.length, 1, `${name} has one IPv6 address: ${a.v6}`);
    out[name] = `${a.v4[0]} ${a.v6[0]}`;
  }
  return out;
}

test('CA server, three clients: distinct pool addresses, stable across a reconnect and a server restart; client-to-client off and on', { skip, timeout: 90_000 }, async () => {
  let server = await startServer(false);
  const clients = {} as Record<Name, TunnelProc>;
  for (const name of NAMES) clients[name] = await startClient(name);

  const first = await addresses();
  const all = Object.values(first);
  assert.equal(new Set(all.map((x) => x.split(' ')[0])).size, 3, `distinct IPv4 addresses: ${all}`);
  assert.equal(new Set(all.map((x) => x.split(' ')[1])).size, 3, `distinct IPv6 addresses: ${all}`);
  for (const x of all) assert.match(x, /^10\.8\.0\.\d+ fd00:8::[0-9a-f:]+$/, 'from the pools');
  for (const name of NAMES) assert.match(clients[name].output(), new RegExp(`connected to vpn at .*${first[name].split(' ')[0].replace(/\./g, '\\.')}`), 'the log names the address');

  // Across the tunnel to the server; not to another client (client-to-client is off, the server does not forward).
  await lab.whoamiServer(srvNs, 7100);
  assert.equal(await lab.tcpRead(ns.alice, '10.8.0.1', 7100), `::ffff:${first.alice.split(' ')[0]}`);
  await lab.whoamiServer(ns.carol, 7101);
  const [carol4, carol6] = first.carol.split(' ') as [string, string];
  assert.equal(await tcpConnects(lab, ns.alice, carol4, 7101), false, 'client-to-client off: alice cannot reach carol (v4)');
  assert.equal(await tcpConnects(lab, ns.alice, carol6, 7101), false, 'client-to-client off: alice cannot reach carol (v6)');

  // A client reconnects: its addresses were kept for it.
  assert.equal(await clients.alice.stop(), 0);
  clients.alice = await startClient('alice');
  assert.deepEqual(await addresses(), first, 'the same addresses after alice reconnects');

  // The server restarts with client-to-client. bob stays up and reconnects on his own; carol and alice
  // start again in reverse order: the persist file still gives everyone their addresses.
  assert.equal(await clients.alice.stop(), 0);
  assert.equal(await clients.carol.stop(), 0);
  assert.equal(await server.stop(), 0);
  server = await startServer(true);
  clients.carol = await startClient('carol');
  clients.alice = await startClient('alice');
  await waitForCount(clients.bob, /connected to /, 2);
  assert.deepEqual(await addresses(), first, 'the same addresses after a server restart (pool persist file)');
  await waitForCount(server, / connected: /, 3);

  assert.equal(await lab.tcpRead(ns.alice, carol4, 7101), `::ffff:${first.alice.split(' ')[0]}`, 'client-to-client on: alice reaches carol (v4)');
  assert.equal(await lab.tcpRead(ns.alice, carol6, 7101), first.alice.split(' ')[1], 'client-to-client on: alice reaches carol (v6)');
});
