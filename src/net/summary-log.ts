// Aggregated, rate-limited logging of events anyone can cause (failed,
// stalled or refused handshakes): counts by kind, distinct sources and the
// commonest reasons, written as one line per interval at most, never one
// line per event. Memory is bounded whatever the event rate.
export interface WarnLogger {
  warn(obj: object, msg?: string): void;
}

/** Distinct sources remembered per interval; beyond, the count is a lower bound. */
const MAX_SOURCES = 4096;
/** Distinct reasons kept per interval; the rest are counted as "other". */
const MAX_REASONS = 8;

export class SummaryLog {
  private counts = new Map<string, number>();
  private sources = new Set<string>();
  private reasons = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: WarnLogger,
    private readonly msg: string,
    /** fixed fields of every line, e.g. which listener */
    private readonly fields: object = {},
    private readonly intervalMs = 10_000,
  ) {}

  /** One event of `kind` (e.g. "timedOut") from `source` (an IP address). */
  count(kind: string, source: string, reason?: string): void {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
    if (this.sources.size < MAX_SOURCES) this.sources.add(source);
    if (reason !== undefined) {
      const key = this.reasons.has(reason) || this.reasons.size < MAX_REASONS ? reason : 'other';
      this.reasons.set(key, (this.reasons.get(key) ?? 0) + 1);
    }
    this.timer ??= setTimeout(() => this.flush(), this.intervalMs).unref();
  }

  /** Writes what was counted since the last line, if anything. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.counts.size === 0) return;
    this.log.warn(
      {
        ...this.fields,
        ...Object.fromEntries(this.counts),
        sources: this.sources.size,
        ...(this.reasons.size === 0 ? {} : { reasons: Object.fromEntries(this.reasons) }),
        intervalMs: this.intervalMs,
      },
      this.msg,
    );
    this.counts = new Map();
    this.sources = new Set();
    this.reasons = new Map();
  }
}
