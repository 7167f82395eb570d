// One UDP socket and the channels that live on it. A server has one endpoint
// for all its UDP channels (demultiplexed by channel id, as WireGuard does by
// receiver index); a client has one per channel. The cheap checks happen
// here: length, type, channel id; the channel does the rest. One coarse
// ticker drives keepalives, dead-peer detection and reassembly expiry.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { DGRAM_HEADER_SIZE, DGRAM_TYPE_SEALED } from './constants.js';
import { decodeHeader, type DatagramHeader } from './datagram.js';

export interface DatagramReceiver {
  receive(datagram: Buffer, from: RemoteInfo, header: DatagramHeader): void;
  tick(now: number): void;
}

/** Kernel buffers large enough for bursts of fragments; the kernel caps them at rmem_max. */
const SOCKET_BUFFER = 8 * 1024 * 1024;

export class UdpEndpoint {
  private readonly channels = new Map<number, DatagramReceiver>();
  private readonly header: DatagramHeader = { type: 0, epoch: 0, channelId: 0, counter: 0 };
  private ticker: NodeJS.Timeout | undefined;
  private socket!: Socket;
  /** Datagrams that matched no channel, by reason. */
  readonly drops: Record<string, number> = {};
  private closed = false;

  private constructor(
    private readonly tickMs: number,
    /** Close the socket when the last channel leaves (client endpoints). */
    private readonly closeWhenEmpty: boolean,
  ) {}

  static async open(host: string, port: number, tickMs: number, closeWhenEmpty: boolean): Promise<UdpEndpoint> {
    const ep = new UdpEndpoint(tickMs, closeWhenEmpty);
    ep.socket = await ep.bind(host, port);
    return ep;
  }

  get port(): number {
    return this.socket.address().port;
  }

  get address(): string {
    return this.socket.address().address;
  }

  /** Moves to a new local socket (a new port): what a NAT rebinding or a roaming client looks like. */
  async rebind(host: string, port = 0): Promise<void> {
    const next = await this.bind(host, port);
    const old = this.socket;
    this.socket = next;
    old.close();
  }

  add(id: number, ch: DatagramReceiver): void {
    this.channels.set(id, ch);
    if (this.ticker === undefined) {
      this.ticker = setInterval(() => this.tick(), this.tickMs);
      this.ticker.unref();
    }
  }

  has(id: number): boolean {
    return this.channels.has(id);
  }

  remove(id: number): void {
    this.channels.delete(id);
    if (this.channels.size === 0 && this.closeWhenEmpty) this.close();
  }

  send(datagram: Buffer, port: number, address: string, cb: (err: Error | null) => void): void {
    if (this.closed) {
      cb(new Error('UDP endpoint closed'));
      return;
    }
    this.socket.send(datagram, port, address, cb);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.ticker) clearInterval(this.ticker);
    this.socket.close();
  }

  private bind(host: string, port: number): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const s = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4', recvBufferSize: SOCKET_BUFFER, sendBufferSize: SOCKET_BUFFER });
      s.once('error', reject);
      s.bind(port, host, () => {
        s.off('error', reject);
        // Errors after bind (e.g. ICMP port unreachable on Linux) are per-packet; the channel's timers notice a dead peer.
        s.on('error', () => undefined);
        s.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
        resolve(s);
      });
    });
  }

  private onMessage(msg: Buffer, from: RemoteInfo): void {
    if (msg.length < DGRAM_HEADER_SIZE) return this.drop('truncated');
    if (msg[0] !== DGRAM_TYPE_SEALED) return this.drop('bad_type');
    let h: DatagramHeader;
    try {
      h = decodeHeader(msg, this.header);
    } catch {
      return this.drop('malformed');
    }
    const ch = this.channels.get(h.channelId);
    if (ch === undefined) return this.drop('unknown_channel');
    ch.receive(msg, from, h);
  }

  private drop(reason: string): void {
    this.drops[reason] = (this.drops[reason] ?? 0) + 1;
  }

  private tick(): void {
    const now = Date.now();
    for (const ch of this.channels.values()) ch.tick(now);
  }
}
