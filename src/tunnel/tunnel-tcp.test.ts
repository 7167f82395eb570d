// TCP transport (`proto tcp` on a CA client), by the real CLI: traffic and a
// byte-exact transfer work, the client's log and `insel status` on both ends
// name the tcp rung, and not one UDP datagram leaves the client or reaches
// the server's UDP port (nft counters in both namespaces).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { type NetnsLab, netnsMissing, nftMissing } from '../hostnet/netns-testing.js';
import { insel, type TunnelPki } from './tunnel-testing.js';
import { caClientConfig, caLab, caServerConfig, deviceAddresses, startCaClient, startCaServer, tcpTransfer, tunDevice } from './tunnel-e2e-testing.js';

const skip = netnsMissing() ?? nftMissing();
const TABLE = 'e2ecount';

let lab: NetnsLab;
let srv: string;
let cli: string;
let dir: string;
let pki: TunnelPki;

before(async () => {
  if (skip !== undefined) return;
  let clients: Record<'alice', string>;
  ({ lab, srv, clients, dir, pki } = await caLab('tuntcp', ['alice'] as const));
  cli = clients.alice;
});

after(async () => {
  if (lab !== undefined) await lab.cleanup();
});

/** An nft table in `ns` with one counting rule (`match ... counter`) on `hook`. */
async function counter(ns: string, hook: 'input' | 'output', match: string): Promise<void> {
  await lab.run(ns, 'nft', ['-f', '-'], { input: `table inet ${TABLE} {\n  chain c { type filter hook ${hook} priority 0; policy accept; ${match} counter; }\n}\n` });
}

async function packets(ns: string): Promise<number> {
  const out = JSON.parse(await lab.run(ns, 'nft', ['-j', 'list', 'table', 'inet', TABLE])) as { nftables: { rule?: { expr: { counter?: { packets: number } }[] } }[] };
  const counters = out.nftables.flatMap((o) => o.rule?.expr ?? []).flatMap((e) => (e.counter === undefined ? [] : [e.counter.packets]));
  assert.equal(counters.length, 1, `one counter in ${ns}`);
  return counters[0] as number;
}

test('proto tcp: traffic over the TLS connection only, log and status name the tcp rung, no UDP at all', { skip, timeout: 60_000 }, async () => {
  await counter(srv, 'input', 'udp dport 1194');
  await counter(cli, 'output', 'oifname "eth0" meta l4proto udp');
  await startCaServer(lab, srv, caServerConfig(dir, pki.profile['vpn'] as string));
  const client = await startCaClient(lab, cli, caClientConfig(dir, 'alice', pki.profile['alice'] as string, ['proto tcp']));
  assert.match(await client.waitFor(/transport: /), /transport: tcp/, 'the client says it is on the tcp rung');

  await lab.whoamiServer(srv, 7400);
  assert.match(await lab.tcpRead(cli, '10.8.0.1', 7400), /^::ffff:10\.8\.0\.\d+$/);
  const r = await tcpTransfer(lab, cli, srv, '10.8.0.1', 7401, 2 * 1024 * 1024);
  assert.equal(r.receivedSha, r.sentSha, 'byte-exact over the TCP rung');
  const [mine] = (await deviceAddresses(lab, cli, await tunDevice(lab, cli))).v4;
  const back = await tcpTransfer(lab, srv, cli, mine as string, 7402, 1024 * 1024);
  assert.equal(back.receivedSha, back.sentSha, 'and the other way');

  for (const who of ['alice', 'server']) {
    const status = JSON.parse(await insel(['status', '--json', '--socket', join(dir, who, 'status.sock')])) as { clients: { rung: string }[] };
    assert.deepEqual(status.clients.map((c) => c.rung), ['tcp'], `insel status (${who}) shows the tcp rung: ${JSON.stringify(status)}`);
  }
  assert.equal(await packets(srv), 0, "no datagram reached the server's UDP port");
  assert.equal(await packets(cli), 0, 'the client sent no UDP');
  assert.doesNotMatch(client.output(), /transport: udp/);
});
