// One UDP socket and the datagram sessions that live on it. A server has one
// endpoint for all its UDP channels (demultiplexed by channel id, as
// WireGuard does by receiver index); a client has one per channel. The cheap
// checks happen here: length, type, channel id; the session does the rest.
// One coarse ticker drives keepalives, dead-peer detection, rekey by time
// and reassembly expiry, and keeps the `now` that sessions stamp packets
// with (no clock read per packet). Socket and clock are injectable:
// memory-net.ts and ManualClock let tests run without the OS or real time.
import { realClock, type Clock } from './clock.js';
import { DGRAM_HEADER_SIZE, DGRAM_TYPE_SEALED } from './constants.js';
import { decodeHeader, type DatagramHeader } from './datagram.js';
import { udpBinder, type Binder, type DatagramPeer, type DatagramSocket } from './datagram-socket.js';

export interface DatagramReceiver {
  receive(datagram: Buffer, from: DatagramPeer, header: DatagramHeader): void;
  tick(now: number): void;
}

export interface EndpointOptions {
  tickMs: number;
  /** Close the socket when the last session leaves (client endpoints). */
  closeWhenEmpty: boolean;
  binder?: Binder;
  clock?: Clock;
}

export class UdpEndpoint {
  /** The coarse time: the clock as of the last tick (or the last session added). */
  now: number;
  private readonly channels = new Map<number, DatagramReceiver>();
  private readonly header: DatagramHeader = { type: 0, epoch: 0, channelId: 0, counter: 0 };
  private readonly binder: Binder;
  private readonly clock: Clock;
  private stopTicker: (() => void) | undefined;
  private socket!: DatagramSocket;
  /** Datagrams that matched no session, by reason. */
  readonly drops: Record<string, number> = {};
  private closed = false;
  private readonly onDatagram = (msg: Buffer, from: DatagramPeer) => this.route(msg, from);

  private constructor(private readonly opts: EndpointOptions) {
    this.binder = opts.binder ?? udpBinder;
    this.clock = opts.clock ?? realClock;
    this.now = this.clock.now();
  }

  static async open(host: string, port: number, opts: EndpointOptions): Promise<UdpEndpoint> {
    const ep = new UdpEndpoint(opts);
    ep.socket = await ep.binder(host, port, ep.onDatagram);
    return ep;
  }

  get port(): number {
    return this.socket.port;
  }

  get address(): string {
    return this.socket.address;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Moves to a new local socket (a new port): what a NAT rebinding or a roaming client looks like. */
  async rebind(host: string, port = 0): Promise<void> {
    const next = await this.binder(host, port, this.onDatagram);
    const old = this.socket;
    this.socket = next;
    old.close();
  }

  add(id: number, ch: DatagramReceiver): void {
    this.channels.set(id, ch);
    this.now = this.clock.now();
    this.stopTicker ??= this.clock.every(this.opts.tickMs, () => this.tick());
  }

  has(id: number): boolean {
    return this.channels.has(id);
  }

  remove(id: number): void {
    this.channels.delete(id);
    if (this.channels.size === 0 && this.opts.closeWhenEmpty) this.close();
  }

  send(datagram: Buffer, port: number, address: string): void {
    if (!this.closed) this.socket.send(datagram, port, address);
  }

  /** Datagrams the socket still holds (see DatagramSocket.pending). */
  pending(): number {
    return this.closed ? 0 : this.socket.pending();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopTicker?.();
    this.socket.close();
  }

  private route(msg: Buffer, from: DatagramPeer): void {
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
    this.now = this.clock.now();
    for (const ch of this.channels.values()) ch.tick(this.now);
  }
}
