// Send buffers of one datagram session (wireguard-go device/pools.go caps
// buffers in flight the same way). A datagram is sealed straight into one
// and handed to the socket, which sends it at once unless the kernel's
// buffer is full; then the socket holds it until it can. Held sends leave
// in order, so with `held` of them waiting, the last `held` buffers handed
// out are busy and every other is free: a ring suffices, and it only grows
// as deep as the socket ever held. With all `count` held, the session's send
// queue is full and the datagram is dropped (or its sender waits).

export class PacketPool {
  private readonly ring: (Buffer | undefined)[];
  private next = 0;

  constructor(
    private readonly size: number,
    readonly count: number,
  ) {
    this.ring = new Array<Buffer | undefined>(count);
  }

  /** A buffer of `size` bytes that the socket no longer holds, or undefined if it holds them all. */
  take(held: number): Buffer | undefined {
    if (held >= this.count) return undefined;
    // Nothing held: every buffer is free, start from the first (the ring stays shallow).
    if (held === 0) this.next = 0;
    const i = this.next;
    this.next = i + 1 === this.count ? 0 : i + 1;
    return (this.ring[i] ??= Buffer.allocUnsafeSlow(this.size));
  }

  /** Buffers allocated so far. */
  get allocated(): number {
    let n = 0;
    for (const b of this.ring) if (b !== undefined) n++;
    return n;
  }
}
