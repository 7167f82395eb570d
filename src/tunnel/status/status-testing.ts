// A fixed status snapshot for the status socket, file and CLI tests.
import { buildSnapshot, type StatusSnapshot } from './status-snapshot.js';

/** A server with two clients: alice on UDP with counters, bob on TCP before any stats. */
export const SAMPLE: StatusSnapshot = buildSnapshot({
  mode: 'server',
  device: 'insel0',
  transport: { proto: 'udp', udpPort: 1194, tcpPort: 443 },
  mtu: 1420,
  peers: [
    { id: 7, identity: 'alice@acme', real: '192.0.2.7:40000', rung: 'udp', v4: '10.8.0.2', v6: 'fd00:8::1000', since: '2026-12-03T12:00:00.000Z' },
    { id: 9, identity: 'bob@acme', real: 'tcp', rung: 'tcp', v4: '10.8.0.3' },
  ],
  stats: (id) => (id === 7 ? { txPackets: 3, txBytes: 3000, rxPackets: 2, rxBytes: 1536, sendEpoch: 2, sendCounter: 3, lastRxMs: 5, drops: {} } : undefined),
  now: new Date('2026-12-03T12:30:00.000Z'),
});
