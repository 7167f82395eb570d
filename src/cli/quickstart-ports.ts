// Free loopback ports for the quickstart's processes, distinct from each
// other: all are bound at once (TCP and UDP), read, then released.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';

/** `n` distinct ports free for TCP and UDP on 127.0.0.1 a moment ago. */
export async function freePorts(n: number): Promise<number[]> {
  const held: (Server | UdpSocket)[] = [];
  const ports: number[] = [];
  try {
    for (let tries = 0; ports.length < n && tries < n * 20; tries++) {
      const tcp = createServer().listen(0, '127.0.0.1');
      held.push(tcp);
      await once(tcp, 'listening');
      const port = (tcp.address() as { port: number }).port;
      const udp = createSocket('udp4');
      held.push(udp);
      const ok = await new Promise<boolean>((r) => (udp.once('error', () => r(false)), udp.bind(port, '127.0.0.1', () => r(true))));
      if (ok) ports.push(port);
    }
    if (ports.length < n) throw new Error(`found only ${ports.length} of ${n} free loopback ports`);
    return ports;
  } finally {
    for (const h of held) {
      try {
        h.close();
      } catch {
        // a UDP socket whose bind failed is closed already
      }
    }
  }
}
