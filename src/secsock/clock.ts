// Time for the UDP data path: one coarse "now" per tick instead of a
// Date.now() per packet, and the ticker that advances it. Injected, so tests
// of rekeys, keepalives and expiry move time by hand (ManualClock) rather
// than sleep (wireguard-go injects timeNow into its rate limiter the same way).

export interface Clock {
  now(): number;
  /** Calls `fn` every `ms` until the returned stop function is called; never keeps the process alive. */
  every(ms: number, fn: () => void): () => void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  every(ms, fn) {
    const t = setInterval(fn, ms);
    t.unref();
    return () => clearInterval(t);
  },
};

interface ManualTimer {
  ms: number;
  due: number;
  fn: () => void;
}

/** A clock that moves only when told: advance() runs the tickers that fall due, in time order. */
export class ManualClock implements Clock {
  private t: number;
  private readonly timers = new Set<ManualTimer>();

  constructor(start = 1_000_000) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  every(ms: number, fn: () => void): () => void {
    const timer = { ms, due: this.t + ms, fn };
    this.timers.add(timer);
    return () => this.timers.delete(timer);
  }

  /** Moves time forward by `ms`, firing each ticker once per period that ends on the way. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: ManualTimer | undefined;
      for (const timer of this.timers) if (timer.due <= end && (next === undefined || timer.due < next.due)) next = timer;
      if (next === undefined) break;
      this.t = next.due;
      next.due += next.ms;
      next.fn();
    }
    this.t = end;
  }
}
