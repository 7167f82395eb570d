// Reassembly of fragmented UDP messages, with hard bounds: at most
// `maxMessages` partial messages and `maxBytes` held at once (the oldest is
// evicted), none older than `timeoutMs`, none larger than `maxMessage`.
// Fragments arrive here only after authentication and the replay check.

export type ReassemblyDrop = 'reassembly_overflow' | 'reassembly_timeout' | 'reassembly_conflict' | 'message_too_large';

export interface ReassemblyLimits {
  maxMessages: number;
  maxBytes: number;
  timeoutMs: number;
  maxMessage: number;
}

interface Partial {
  parts: (Buffer | undefined)[];
  received: number;
  bytes: number;
  flags: number;
  started: number;
}

export class Reassembler {
  private readonly partials = new Map<number, Partial>();
  private held = 0;

  constructor(
    private readonly limits: ReassemblyLimits,
    private readonly onDrop: (reason: ReassemblyDrop) => void,
  ) {}

  get bytesHeld(): number {
    return this.held;
  }

  /** The whole message once its last fragment arrives; undefined until then. */
  add(msgId: number, index: number, count: number, flags: number, body: Buffer, now: number): { message: Buffer; flags: number } | undefined {
    // decodeInner checks this too; a hole left by index >= count would crash the concat below.
    if (index >= count) {
      this.onDrop('reassembly_conflict');
      return undefined;
    }
    let p = this.partials.get(msgId);
    if (p === undefined) {
      while (this.partials.size >= this.limits.maxMessages) this.evictOldest('reassembly_overflow');
      p = { parts: new Array<Buffer | undefined>(count), received: 0, bytes: 0, flags, started: now };
      this.partials.set(msgId, p);
    } else if (p.parts.length !== count || p.flags !== flags) {
      this.remove(msgId, p, 'reassembly_conflict');
      return undefined;
    }
    if (p.parts[index] !== undefined) return undefined;
    if (p.bytes + body.length > this.limits.maxMessage) {
      this.remove(msgId, p, 'message_too_large');
      return undefined;
    }
    p.parts[index] = body;
    p.received++;
    p.bytes += body.length;
    this.held += body.length;
    // Complete first: evicting this message as the oldest and then returning it
    // would subtract its bytes twice.
    if (p.received === count) {
      this.partials.delete(msgId);
      this.held -= p.bytes;
      return { message: Buffer.concat(p.parts as Buffer[], p.bytes), flags: p.flags };
    }
    // A lone message may exceed maxBytes; it is bounded by maxMessage.
    while (this.held > this.limits.maxBytes && this.partials.size > 1) this.evictOldest('reassembly_overflow');
    return undefined;
  }

  /** Drops partial messages older than the timeout; called from the ticker. */
  expire(now: number): void {
    for (const [id, p] of this.partials) {
      if (now - p.started <= this.limits.timeoutMs) break; // insertion order is age order
      this.remove(id, p, 'reassembly_timeout');
    }
  }

  clear(): void {
    this.partials.clear();
    this.held = 0;
  }

  private evictOldest(reason: ReassemblyDrop): void {
    const [id, p] = this.partials.entries().next().value as [number, Partial];
    this.remove(id, p, reason);
  }

  private remove(id: number, p: Partial, reason: ReassemblyDrop): void {
    this.partials.delete(id);
    this.held -= p.bytes;
    this.onDrop(reason);
  }
}
