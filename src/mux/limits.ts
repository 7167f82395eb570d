// What one session lets its peer make us hold (docs/PROTOCOL.md §5.1
// "Limits"). Every window we grant is something we may have to buffer, so
// the windows granted to all streams together never pass
// maxBufferedPerSession, and a peer that sends within its credit never hits
// that limit: only one that breaks the rules does.
import { MAX_DATA_PAYLOAD, MAX_U32 } from './constants.js';
import { MuxError } from './errors.js';

export interface MuxLimits {
  /** streams the peer may have open at once; its next OPEN is refused (RESET REFUSED) */
  maxStreams: number;
  /** OPENs per second the peer may send (a token bucket holding one second's worth); beyond: RESET REFUSED */
  opensPerSecond: number;
  /** bytes received and not yet taken by their consumers, all streams together; beyond: GOAWAY FLOW_CONTROL */
  maxBufferedPerSession: number;
  /** bytes queued to send, all streams together (a peer that stops reading holds them here); over it, spliced sockets are paused */
  maxQueuedPerSession: number;
  /** the window of every new stream, each direction: a protocol constant both ends must agree on */
  initialWindow: number;
  /** how far a stream's receive window may grow while its consumer keeps up */
  maxWindow: number;
}

export const DEFAULT_LIMITS: MuxLimits = {
  maxStreams: 1024,
  opensPerSecond: 1000,
  maxBufferedPerSession: 128 * 1024 * 1024,
  maxQueuedPerSession: 16 * 1024 * 1024,
  initialWindow: 128 * 1024,
  maxWindow: 1024 * 1024,
};

/** Defaults filled in, each value checked; MuxError OPTION names the one out of range. */
export function resolveLimits(given: Partial<MuxLimits> = {}): MuxLimits {
  const l: MuxLimits = { ...DEFAULT_LIMITS };
  for (const [k, v] of Object.entries(given) as [keyof MuxLimits, number | undefined][]) if (v !== undefined) l[k] = v;
  const need = (ok: boolean, key: keyof MuxLimits, what: string) => {
    if (!ok) throw new MuxError('INSEL_MUX_OPTION', `mux limit ${key} = ${l[key]}: ${what}`, { field: key });
  };
  for (const k of Object.keys(l) as (keyof MuxLimits)[]) need(Number.isSafeInteger(l[k]) && l[k] >= 1, k, 'must be a whole number ≥ 1');
  need(l.initialWindow <= MAX_U32, 'initialWindow', `must be at most ${MAX_U32}`);
  need(l.maxWindow >= l.initialWindow && l.maxWindow <= MAX_U32, 'maxWindow', `must be between initialWindow (${l.initialWindow}) and ${MAX_U32}`);
  need(l.maxQueuedPerSession >= MAX_DATA_PAYLOAD, 'maxQueuedPerSession', `must be at least ${MAX_DATA_PAYLOAD}`);
  need(l.maxBufferedPerSession >= l.initialWindow && l.maxBufferedPerSession >= MAX_DATA_PAYLOAD, 'maxBufferedPerSession', `must be at least initialWindow and ${MAX_DATA_PAYLOAD}`);
  return l;
}

/** A token bucket: `rate` per second, holding at most one second's worth. */
export class TokenBucket {
  private tokens: number;
  private stamp: number;

  constructor(
    private readonly rate: number,
    private readonly now: () => number,
  ) {
    this.tokens = rate;
    this.stamp = now();
  }

  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.rate, this.tokens + ((t - this.stamp) * this.rate) / 1000);
    this.stamp = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
