// The UDP socket beneath an endpoint, as a small interface so that tests can
// put an in-memory network there instead (memory-net.ts; wireguard-go's
// conn/bindtest). The real one sends synchronously: peer addresses are always
// IP literals (from the kernel or the TLS socket), so the name lookup Node
// runs before every send (a process.nextTick each) is skipped.
import { createSocket, type Socket } from 'node:dgram';
import { lookup as dnsLookup, type LookupOneOptions } from 'node:dns';
import { isIP, isIPv6 } from 'node:net';

export interface DatagramPeer {
  address: string;
  port: number;
}

export type OnDatagram = (datagram: Buffer, from: DatagramPeer) => void;

export interface DatagramSocket {
  readonly address: string;
  readonly port: number;
  /** Hands the datagram to the kernel now; UDP loses datagrams, so send errors are not reported. */
  send(datagram: Buffer, port: number, address: string): void;
  /**
   * Datagrams the socket still holds (the kernel's buffer was full): their
   * buffers are not free yet. Held sends leave in order, so the last
   * pending() buffers handed to send() are the held ones.
   */
  pending(): number;
  close(): void;
}

export type Binder = (host: string, port: number, onDatagram: OnDatagram) => Promise<DatagramSocket>;

/** Kernel buffers large enough for bursts of fragments; the kernel caps them at rmem_max/wmem_max. */
const SOCKET_BUFFER = 8 * 1024 * 1024;

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string, family: number) => void;

/** An IP literal needs no lookup: answered at once, so that send() runs synchronously. For dgram's `lookup` option. */
export function literalLookup(hostname: string, options: LookupOneOptions | number, callback: LookupCallback): void {
  const family = isIP(hostname);
  if (family !== 0) return callback(null, hostname, family);
  dnsLookup(hostname, typeof options === 'number' ? { family: options } : options, callback);
}

class UdpSocket implements DatagramSocket {
  constructor(private readonly s: Socket) {}

  get address(): string {
    return this.s.address().address;
  }

  get port(): number {
    return this.s.address().port;
  }

  send(datagram: Buffer, port: number, address: string): void {
    this.s.send(datagram, port, address);
  }

  pending(): number {
    return this.s.getSendQueueCount();
  }

  close(): void {
    this.s.close();
  }
}

/** A real UDP socket bound to host:port. */
export const udpBinder: Binder = (host, port, onDatagram) =>
  new Promise((resolve, reject) => {
    const s = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4', recvBufferSize: SOCKET_BUFFER, sendBufferSize: SOCKET_BUFFER, lookup: literalLookup as never });
    s.once('error', reject);
    s.bind(port, host, () => {
      s.off('error', reject);
      // Errors after bind (e.g. ICMP port unreachable on Linux) are per-packet; the session's timers notice a dead peer.
      s.on('error', () => undefined);
      s.on('message', onDatagram);
      resolve(new UdpSocket(s));
    });
  });
