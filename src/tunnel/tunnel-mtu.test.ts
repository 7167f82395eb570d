// MTU without black holes (ISSUE14 §6), end to end: the underlay between
// client and server has an MTU below what the tunnel's default tun-mtu 1420
// needs, and every ICMP error that could tell anyone so (destination-
// unreachable / fragmentation-needed, packet-too-big) is dropped in both
// namespaces. The client's PMTU discovery finds the path by its own probes
// and sets the device MTU; MSS clamping keeps TCP segments inside it; a
// 10 MiB transfer through the tunnel, started at once, arrives byte-exact.
// 1280 leaves room above the base size (the search raises the MTU); 1260
// carries exactly the base size (nothing larger is ever confirmed).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { NetnsLab, netnsMissing, nftMissing } from '../hostnet/netns-testing.js';
import { startCaTunnel, startFlow } from './tunnel-flow-testing.js';

const skip = netnsMissing() ?? nftMissing();
const TEN_MIB = 10 * 1024 * 1024;
/** The default tun-mtu, and the datagram it needs: 1420 + 32 bytes of tunnel overhead. */
const DEFAULT_DATAGRAM = 1420 + 32;
/** IPv4 + UDP headers: the datagram a link of MTU m carries is m − 28. */
const UDP4 = 28;

const labs: NetnsLab[] = [];
after(async () => {
  for (const lab of labs) await lab.cleanup();
});

for (const linkMtu of [1280, 1260]) {
  test(`underlay MTU ${linkMtu}, ICMP dropped: PMTU discovery sets the tunnel MTU and a 10 MiB transfer arrives byte-exact`, { skip, timeout: 90_000 }, async () => {
    const lab = await NetnsLab.create('tunmtu');
    labs.push(lab);
    const { a, b, client, server, clientDev } = await startCaTunnel(lab, {
      tag: 'mtu',
      mtu: 1280,
      prepare: async (a, b) => {
        for (const ns of [a, b]) {
          // Below 1280 (IPv6's minimum) the kernel takes IPv6 off the link, so the addresses went on first.
          await lab.mtu(ns, 'eth0', linkMtu);
          for (const chain of ['input', 'output'] as const) {
            await lab.addDrop(ns, chain, ['icmp', 'type', 'destination-unreachable']);
            await lab.addDrop(ns, chain, ['icmpv6', 'type', 'packet-too-big']);
            await lab.addDrop(ns, chain, ['icmpv6', 'type', 'destination-unreachable']);
          }
        }
      },
    });

    // The transfer starts at once, while discovery still runs: it must need neither ICMP nor fragments.
    const flow = await startFlow(lab, { from: b, to: a, host: '10.8.0.1', port: 7400, chunk: 65536, intervalMs: 0, bytes: TEN_MIB });
    await flow.reached(TEN_MIB, { timeoutMs: 60_000 });
    const r = await flow.finish();
    assert.equal(r.receivedBytes, TEN_MIB);
    assert.equal(r.receivedSha, r.sentSha, 'byte-exact');

    const fits = linkMtu - UDP4;
    // The search ends with the largest size the link carries (up to MAX_PROBES probe timers per size tried).
    if (fits > 1232) await client.waitFor(new RegExp(`path MTU: datagrams of ${fits} bytes`), 30_000);
    const sizes = [...client.output().matchAll(/path MTU: datagrams of (\d+) bytes/g)].map((m) => Number(m[1]));
    assert.ok(sizes.length > 0 && sizes.every((s) => s < DEFAULT_DATAGRAM && s <= fits), `every path MTU the client logged is below the default's ${DEFAULT_DATAGRAM} and fits the link (${fits}): ${sizes.join(', ') || 'none logged'}\n${client.output()}`);
    const link = JSON.parse(await lab.run(b, 'ip', ['-j', 'link', 'show', 'dev', clientDev])) as { mtu: number }[];
    assert.ok(link[0]!.mtu <= fits - 32 && link[0]!.mtu < 1420, `the client's device MTU follows the path: ${link[0]!.mtu}`);

    assert.equal(await client.stop(), 0);
    assert.equal(await server.stop(), 0);
  });
}
