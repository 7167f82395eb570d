// A tiny DNS server on 127.0.0.1 for tests (RFC 1035 §4): answers A queries
// from a table, AAAA with no data, NXDOMAIN for names it does not know, and
// never answers names marked silent. It counts every query by name, so a test
// can tell whether the gateway asked at all.
import { createSocket, type RemoteInfo } from 'node:dgram';

export interface FakeDns {
  /** "127.0.0.1:port", for [dns] servers */
  server: string;
  /** queries received, by lowercased name */
  queries: Map<string, number>;
  /** all queries received */
  total(): number;
  close(): Promise<void>;
}

const TYPE_A = 1;

/** The question's name and type, or undefined for a packet we do not parse. */
function question(msg: Buffer): { name: string; type: number; end: number } | undefined {
  if (msg.length < 12) return undefined;
  const labels: string[] = [];
  let at = 12;
  // A query's name has no compression pointers; 64 labels is beyond any real name.
  for (let i = 0; i < 64 && at < msg.length; i++) {
    const len = msg[at]!;
    if (len === 0) {
      if (at + 5 > msg.length) return undefined;
      return { name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(at + 1), end: at + 5 };
    }
    if (len > 63) return undefined;
    labels.push(msg.subarray(at + 1, at + 1 + len).toString('latin1'));
    at += 1 + len;
  }
  return undefined;
}

/**
 * Starts the server: `answers` maps a name to its IPv4 address; names in
 * `silent` get no reply at all; `delayMs` holds a reply back that long (a
 * lookup a test can act during).
 */
export async function fakeDns(answers: Record<string, string>, silent: (name: string) => boolean, delayMs: (name: string) => number = () => 0): Promise<FakeDns> {
  const queries = new Map<string, number>();
  const socket = createSocket('udp4');
  socket.on('message', (msg: Buffer, from: RemoteInfo) => {
    const q = question(msg);
    if (q === undefined) return;
    queries.set(q.name, (queries.get(q.name) ?? 0) + 1);
    if (silent(q.name)) return;
    const address = answers[q.name];
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2); // id
    header.writeUInt16BE(address === undefined ? 0x8183 : 0x8180, 2); // QR RD RA, rcode NXDOMAIN or NOERROR
    header.writeUInt16BE(1, 4); // one question
    const withA = address !== undefined && q.type === TYPE_A;
    header.writeUInt16BE(withA ? 1 : 0, 6);
    const parts = [header, msg.subarray(12, q.end)];
    if (withA) {
      const rr = Buffer.alloc(16);
      rr.writeUInt16BE(0xc00c, 0); // the question's name
      rr.writeUInt16BE(TYPE_A, 2);
      rr.writeUInt16BE(1, 4); // IN
      rr.writeUInt32BE(60, 6); // ttl
      rr.writeUInt16BE(4, 10);
      address.split('.').forEach((octet, i) => rr.writeUInt8(Number(octet), 12 + i));
      parts.push(rr);
    }
    const reply = Buffer.concat(parts);
    const send = () => {
      try {
        socket.send(reply, from.port, from.address, () => undefined);
      } catch {
        // closed while a delayed reply waited: the test is over
      }
    };
    const delay = delayMs(q.name);
    if (delay > 0) setTimeout(send, delay).unref();
    else send();
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  return {
    server: `127.0.0.1:${socket.address().port}`,
    queries,
    total: () => [...queries.values()].reduce((a, b) => a + b, 0),
    close: () => new Promise<void>((r) => socket.close(() => r())),
  };
}
