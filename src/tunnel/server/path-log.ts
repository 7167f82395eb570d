// A client may switch data paths as often as it likes (roaming, or an
// attacker replaying its own datagrams from many ports); each switch is worth
// a log line, but not a line per switch. The first change is logged at once,
// later ones at most once a second: the latest path, with the count.

const INTERVAL_MS = 1000;

export class PathLog {
  private lastAt = -Infinity;
  private pending: string | undefined;
  private changes = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly name: string,
    private readonly write: (line: string) => void,
  ) {}

  change(path: string): void {
    const wait = this.lastAt + INTERVAL_MS - Date.now();
    this.pending = path;
    this.changes++;
    if (wait <= 0) return this.flush();
    this.timer ??= setTimeout(() => this.flush(), wait).unref();
  }

  /** Drops a pending line: the session is gone. */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
  }

  private flush(): void {
    this.timer = undefined;
    if (this.pending === undefined) return;
    const more = this.changes > 1 ? ` (${this.changes} changes in the last second)` : '';
    this.write(`${this.name}: data path now ${this.pending}${more}`);
    this.lastAt = Date.now();
    this.pending = undefined;
    this.changes = 0;
  }
}
