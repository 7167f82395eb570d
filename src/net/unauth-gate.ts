// Admission before authentication, for every TLS listener (like OpenSSH's
// MaxStartups): an accepted TCP connection counts as unauthenticated until
// its owner says it passed; beyond `perSource` such connections from one
// address or `total` in all, a new one is closed at once, before any TLS
// work; each one is closed at `timeoutMs` after it was accepted, however
// slowly it trickles bytes (a socket idle timeout would not catch that).
// A refused peer keeps its slot and gets a short linger to read its refusal.
import type { Socket } from 'node:net';

export interface UnauthLimits {
  /** concurrent unauthenticated connections from one IP address */
  perSource: number;
  /** concurrent unauthenticated connections in all */
  total: number;
  /** from TCP accept to "passed"; then the socket is closed */
  timeoutMs: number;
}

/** Why the gate closed a connection: over a cap at accept, or not through in time. */
export type GateClose = 'capped' | 'timeout';

/** A refused peer may read its refusal this long (or until the deadline, if sooner). */
export const REFUSAL_LINGER_MS = 1000;

interface Pending {
  raw: Socket;
  source: string;
  deadline: number;
  timer: NodeJS.Timeout;
  /** refused and told so: its closing is not reported again as a timeout */
  refused: boolean;
}

/** What the gate needs of a socket: the TLS socket of a connection maps to its TCP socket by these. */
export interface Peer {
  remoteAddress?: string | undefined;
  remotePort?: number | undefined;
}

function keyOf(p: Peer): string {
  return `${p.remoteAddress}|${p.remotePort}`;
}

export class UnauthGate {
  private readonly pending = new Map<string, Pending>();
  private readonly bySource = new Map<string, number>();
  private readonly counts = { capped: 0, timedOut: 0 };

  constructor(
    private readonly limits: UnauthLimits,
    /** `source` is the IP address; `port` completes the peer's "ip:port" label */
    private readonly onClose: (why: GateClose, source: string, port: number | undefined) => void,
  ) {}

  /** For the listener's 'connection' event (the raw TCP socket, before TLS). */
  admit(raw: Socket): void {
    const source = raw.remoteAddress;
    if (source === undefined) return void raw.destroy(); // already gone
    const n = this.bySource.get(source) ?? 0;
    const key = keyOf(raw);
    if (n >= this.limits.perSource || this.pending.size >= this.limits.total) {
      this.counts.capped++;
      raw.destroy();
      this.onClose('capped', source, raw.remotePort);
      return;
    }
    const timer = setTimeout(() => this.expire(key), this.limits.timeoutMs);
    this.pending.set(key, { raw, source, deadline: Date.now() + this.limits.timeoutMs, timer, refused: false });
    this.bySource.set(source, n + 1);
    raw.once('close', () => {
      if (this.pending.get(key)?.raw === raw) this.release(key);
    });
  }

  /** The peer authenticated: its slot is free and no deadline applies any more. */
  passed(peer: Peer): void {
    this.release(keyOf(peer));
  }

  /** The peer was refused: closed after REFUSAL_LINGER_MS (or at its deadline, if sooner). */
  refused(peer: Peer): void {
    const key = keyOf(peer);
    const p = this.pending.get(key);
    if (p === undefined) return;
    p.refused = true;
    if (p.deadline - Date.now() <= REFUSAL_LINGER_MS) return;
    clearTimeout(p.timer);
    p.deadline = Date.now() + REFUSAL_LINGER_MS;
    p.timer = setTimeout(() => this.expire(key), REFUSAL_LINGER_MS);
  }

  stats(): { unauthenticated: number; capped: number; timedOut: number } {
    return { unauthenticated: this.pending.size, ...this.counts };
  }

  /** The listener is closing: every connection not yet through is closed. */
  close(): void {
    for (const [key, p] of [...this.pending]) {
      this.release(key);
      p.raw.destroy();
    }
  }

  private expire(key: string): void {
    const p = this.pending.get(key);
    if (p === undefined) return;
    this.release(key);
    p.raw.destroy();
    if (p.refused) return; // reported by its owner when it was refused
    this.counts.timedOut++;
    this.onClose('timeout', p.source, p.raw.remotePort);
  }

  private release(key: string): void {
    const p = this.pending.get(key);
    if (p === undefined) return;
    clearTimeout(p.timer);
    this.pending.delete(key);
    const n = (this.bySource.get(p.source) ?? 1) - 1;
    if (n <= 0) this.bySource.delete(p.source);
    else this.bySource.set(p.source, n);
  }
}
