// A dedicated PostgreSQL connection that LISTENs on one channel and comes
// back after the server or the network dropped it. Pooled connections cannot
// listen (they go back to the pool), hence a client of its own.
import type pg from 'pg';

const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 2000;

export class PgListener {
  private client: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private stopped = false;

  /**
   * `onNotify` gets each payload; `onListening` runs after every (re)connect,
   * so the owner can catch up on what it missed while disconnected.
   */
  constructor(
    private readonly newClient: () => pg.Client,
    private readonly channel: string,
    private readonly onNotify: (payload: string) => void,
    private readonly onListening: () => void,
  ) {}

  start(): void {
    void this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }

  private async connect(): Promise<void> {
    const client = this.newClient();
    this.client = client;
    client.on('notification', (m) => { if (m.channel === this.channel && m.payload !== undefined) this.onNotify(m.payload); });
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${this.channel}`); // a constant identifier, not a value
    } catch {
      this.lost(client);
      return;
    }
    if (this.client !== client) return;
    this.failures = 0;
    this.onListening();
  }

  /** The connection failed or ended: one reconnect, after a growing pause. */
  private lost(client: pg.Client): void {
    if (this.stopped || this.client !== client) return;
    this.client = undefined;
    client.end().catch(() => {});
    const pause = Math.min(RETRY_FIRST_MS * 2 ** this.failures, RETRY_MAX_MS);
    this.failures = Math.min(this.failures + 1, 10);
    this.timer = setTimeout(() => void this.connect(), pause);
  }
}
