// Unencrypted baselines with the same message interface as a SecChannel:
// TCP with a 4-byte length prefix, UDP with messages cut into datagrams of
// the same size a UDP channel uses. No crypto, no compression, no replay
// window: what the network stack alone costs.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';

export interface MessageLink {
  send(m: Buffer): Promise<void>;
  recv(): Promise<Buffer | null>;
  close(): Promise<void>;
}

/** A queue of received messages with awaiting readers. */
class Inbox {
  private readonly queue: Buffer[] = [];
  private readonly waiters: ((m: Buffer | null) => void)[] = [];
  put(m: Buffer): void {
    const w = this.waiters.shift();
    if (w) w(m);
    else this.queue.push(m);
  }
  take(): Promise<Buffer | null> {
    const m = this.queue.shift();
    return m ? Promise.resolve(m) : new Promise((resolve) => this.waiters.push(resolve));
  }
  end(): void {
    for (const w of this.waiters.splice(0)) w(null);
  }
}

function tcpLink(s: Socket): MessageLink {
  const inbox = new Inbox();
  let pending: Buffer = Buffer.alloc(0);
  s.on('data', (chunk: Buffer) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    while (pending.length >= 4 && pending.length >= 4 + pending.readUInt32BE(0)) {
      const n = pending.readUInt32BE(0);
      inbox.put(pending.subarray(4, 4 + n));
      pending = pending.subarray(4 + n);
    }
  });
  s.on('close', () => inbox.end());
  return {
    async send(m) {
      const head = Buffer.allocUnsafe(4);
      head.writeUInt32BE(m.length, 0);
      s.cork();
      s.write(head);
      const ok = s.write(m);
      s.uncork();
      if (!ok) await once(s, 'drain');
    },
    recv: () => inbox.take(),
    async close() {
      s.destroy();
    },
  };
}

export interface LinkPair {
  a: MessageLink;
  b: MessageLink;
  close(): Promise<void>;
}

export async function rawTcpPair(): Promise<LinkPair> {
  const server: Server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const dialed = connect(port, '127.0.0.1');
  const [[accepted]] = await Promise.all([once(server, 'connection') as Promise<[Socket]>, once(dialed, 'connect')]);
  const a = tcpLink(dialed);
  const b = tcpLink(accepted);
  return {
    a,
    b,
    async close() {
      await a.close();
      await b.close();
      server.close();
    },
  };
}

const FRAG_HEADER = 8; // message id u32 | index u16 | count u16

function udpLink(s: UdpSocket, peerPort: number, datagramSize: number): MessageLink {
  const inbox = new Inbox();
  const partial = new Map<number, { parts: Buffer[]; left: number }>();
  let msgId = 0;
  let burst = 0;
  s.on('message', (d: Buffer) => {
    const id = d.readUInt32BE(0);
    const index = d.readUInt16BE(4);
    const count = d.readUInt16BE(6);
    if (count === 1) return inbox.put(d.subarray(FRAG_HEADER));
    let p = partial.get(id);
    if (!p) partial.set(id, (p = { parts: new Array<Buffer>(count), left: count }));
    if (p.parts[index] === undefined) {
      p.parts[index] = d.subarray(FRAG_HEADER);
      p.left--;
    }
    if (p.left === 0) {
      partial.delete(id);
      inbox.put(Buffer.concat(p.parts));
    }
  });
  const piece = datagramSize - FRAG_HEADER;
  return {
    async send(m) {
      const id = ++msgId >>> 0;
      const count = Math.max(1, Math.ceil(m.length / piece));
      const pending: Promise<void>[] = [];
      for (let j = 0; j < count; j++) {
        const d = Buffer.allocUnsafe(FRAG_HEADER + Math.min(piece, m.length - j * piece));
        d.writeUInt32BE(id, 0);
        d.writeUInt16BE(j, 4);
        d.writeUInt16BE(count, 6);
        m.copy(d, FRAG_HEADER, j * piece, (j + 1) * piece);
        pending.push(new Promise((resolve, reject) => s.send(d, peerPort, '127.0.0.1', (e) => (e ? reject(e) : resolve()))));
        // The same pacing as a UDP channel: yield to the event loop every 32 datagrams.
        if (++burst >= 32) {
          burst = 0;
          await Promise.all(pending.splice(0));
          await new Promise(setImmediate);
        }
      }
      await Promise.all(pending);
    },
    recv: () => inbox.take(),
    async close() {
      s.close();
      inbox.end();
    },
  };
}

async function boundUdp(): Promise<UdpSocket> {
  const s = createSocket({ type: 'udp4', recvBufferSize: 8 * 1024 * 1024, sendBufferSize: 8 * 1024 * 1024 });
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  return s;
}

/** Two UDP sockets on loopback, talking in `datagramSize` datagrams (like a UDP channel). */
export async function rawUdpPair(datagramSize: number): Promise<LinkPair> {
  const [sa, sb] = await Promise.all([boundUdp(), boundUdp()]);
  const a = udpLink(sa, sb.address().port, datagramSize);
  const b = udpLink(sb, sa.address().port, datagramSize);
  return {
    a,
    b,
    async close() {
      await a.close();
      await b.close();
    },
  };
}
