// An in-memory UDP network for tests (wireguard-go's conn/bindtest): sockets
// bound by `net.binder` exchange datagrams through a queue delivered on the
// next event-loop turn, without the OS. A test may drop, copy or change
// datagrams in flight (`net.filter`), and may make a socket hold its sends as
// a full kernel buffer would (`hold`), to check that nobody reuses a buffer
// the socket still holds.
import type { Binder, DatagramPeer, DatagramSocket, OnDatagram } from './datagram-socket.js';

interface InFlight {
  datagram: Buffer;
  from: DatagramPeer;
  to: string;
}

/** What a filter sees; returns the datagram to deliver (maybe changed), or undefined to drop it. */
export type NetFilter = (datagram: Buffer, from: DatagramPeer, to: DatagramPeer) => Buffer | undefined;

export class MemorySocket implements DatagramSocket {
  /** Held sends, as a kernel with a full buffer holds them: not copied, not delivered until release(). */
  hold = false;
  private readonly held: { datagram: Buffer; port: number; address: string }[] = [];
  closed = false;

  constructor(
    private readonly net: MemoryNet,
    readonly address: string,
    readonly port: number,
    readonly onDatagram: OnDatagram,
  ) {}

  send(datagram: Buffer, port: number, address: string): void {
    if (this.closed) return;
    if (this.hold) this.held.push({ datagram, port, address });
    else this.net.carry(Buffer.from(datagram), this, port, address);
  }

  pending(): number {
    return this.held.length;
  }

  /** Sends what was held, in order, and stops holding. */
  release(): void {
    this.hold = false;
    for (const h of this.held.splice(0)) this.net.carry(Buffer.from(h.datagram), this, h.port, h.address);
  }

  close(): void {
    this.closed = true;
    this.net.unbind(this);
  }
}

export class MemoryNet {
  filter: NetFilter | undefined;
  /** Datagrams delivered, and those sent to no bound socket. */
  readonly counts = { delivered: 0, unbound: 0 };
  private readonly sockets = new Map<string, MemorySocket>();
  private nextPort = 40_000;
  private queue: InFlight[] = [];
  private scheduled = false;

  readonly binder: Binder = (host, port, onDatagram) => {
    const p = port === 0 ? this.nextPort++ : port;
    if (this.sockets.has(`${host}:${p}`)) return Promise.reject(Object.assign(new Error(`bind EADDRINUSE ${host}:${p}`), { code: 'EADDRINUSE' }));
    const s = new MemorySocket(this, host, p, onDatagram);
    this.sockets.set(`${host}:${p}`, s);
    return Promise.resolve(s);
  };

  carry(datagram: Buffer, from: MemorySocket, port: number, address: string): void {
    this.queue.push({ datagram, from: { address: from.address, port: from.port }, to: `${address}:${port}` });
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.deliver());
  }

  unbind(s: MemorySocket): void {
    if (this.sockets.get(`${s.address}:${s.port}`) === s) this.sockets.delete(`${s.address}:${s.port}`);
  }

  /** Resolves once everything sent so far (and what that caused, up to `rounds` turns) was delivered. */
  async settle(rounds = 100): Promise<void> {
    for (let i = 0; i < rounds && (this.queue.length > 0 || this.scheduled); i++) await new Promise(setImmediate);
  }

  private deliver(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    for (const d of batch) {
      const to = this.sockets.get(d.to);
      if (to === undefined) {
        this.counts.unbound++;
        continue;
      }
      const datagram = this.filter ? this.filter(d.datagram, d.from, { address: to.address, port: to.port }) : d.datagram;
      if (datagram === undefined) continue;
      this.counts.delivered++;
      to.onDatagram(datagram, d.from);
    }
  }
}
