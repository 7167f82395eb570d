// Change notices between the processes that share one registry (HQs, and
// admin commands such as `insel hq revoke` that write the database directly).
// publish() appends to the `changes` table on both dialects; PostgreSQL also
// sends NOTIFY insel_org with {id, kind, subject} in the same transaction.
// Subscribers learn of changes by LISTEN (PostgreSQL) or by reading the table
// from the last id seen every 200 ms (SQLite). Delivery is at least once and
// covers every change committed after the registry was opened: handlers
// re-read the registry, so a repeated notice costs a query, a missed one a bug.
import { sql } from 'kysely';
import type { Connection } from './db.js';
import { StoreError } from './errors.js';
import { PgListener } from './pg-listen.js';
import { num } from './rows.js';

export interface Change { kind: string; subject: string }
type Listener = (change: Change) => void;

export const CHANNEL = 'insel_org';
const POLL_MS = 200;
/** Rows read per catch-up query; a reader further behind takes several. */
const PAGE = 1000;
/** The table keeps the newest changes only: a reader is never this far behind. */
const KEEP = 10_000;
const KIND_MAX = 64;
export const SUBJECT_MAX = 512;

export class ChangeFeed {
  private readonly listeners = new Set<Listener>();
  private poller: NodeJS.Timeout | undefined;
  private listener: PgListener | undefined;
  private reading: Promise<void> | undefined;
  private readAgain = false;

  private constructor(private readonly conn: Connection, private cursor: number) {}

  static async open(conn: Connection): Promise<ChangeFeed> {
    const row = await conn.db.selectFrom('changes').select((eb) => eb.fn.max('id').as('last')).executeTakeFirst();
    return new ChangeFeed(conn, row?.last == null ? 0 : num(row.last));
  }

  async publish(change: Change): Promise<void> {
    if (change.kind.length > KIND_MAX || change.subject.length > SUBJECT_MAX) {
      throw new StoreError('INSEL_STORE_INVALID', `a change notice is limited to a ${KIND_MAX}-character kind and a ${SUBJECT_MAX}-character subject`);
    }
    const id = await this.conn.db.transaction().execute(async (trx) => {
      const row = await trx.insertInto('changes').values({ at: Date.now(), kind: change.kind, subject: change.subject })
        .returning('id').executeTakeFirstOrThrow();
      const id = num(row.id);
      if (this.conn.dialect === 'postgres') {
        await sql`select pg_notify(${CHANNEL}, ${JSON.stringify({ id, ...change })})`.execute(trx);
      }
      await trx.deleteFrom('changes').where('id', '<=', id - KEEP).execute();
      return id;
    });
    if (this.listeners.size === 0) this.cursor = Math.max(this.cursor, id);
    else if (this.conn.dialect === 'sqlite') this.read(); // our own change: no need to wait for the tick
  }

  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    if (this.listeners.size === 1) this.start();
    return () => {
      if (this.listeners.delete(fn) && this.listeners.size === 0) void this.stop();
    };
  }

  async close(): Promise<void> {
    this.listeners.clear();
    await this.stop();
  }

  private start(): void {
    if (this.conn.newClient !== undefined) {
      this.listener = new PgListener(this.conn.newClient, CHANNEL, (p) => this.notified(p), () => this.read());
      this.listener.start();
    } else {
      this.poller = setInterval(() => this.read(), POLL_MS);
      this.poller.unref(); // a forgotten close() must not keep a CLI command alive
    }
  }

  private async stop(): Promise<void> {
    clearInterval(this.poller);
    this.poller = undefined;
    const listener = this.listener;
    this.listener = undefined;
    await listener?.stop();
    await this.reading;
  }

  private notified(payload: string): void {
    let v: { id?: unknown; kind?: unknown; subject?: unknown };
    try {
      v = JSON.parse(payload) as typeof v;
    } catch {
      return; // not ours: someone else NOTIFYing on the channel
    }
    if (typeof v.id === 'number' && typeof v.kind === 'string' && typeof v.subject === 'string') {
      this.deliver(v.id, { kind: v.kind, subject: v.subject });
    }
  }

  /** Reads the table past the cursor; one reader at a time, a request during a read runs once more after it. */
  private read(): void {
    if (this.reading !== undefined) {
      this.readAgain = true;
      return;
    }
    this.reading = this.readAll().finally(() => {
      this.reading = undefined;
      if (this.readAgain && this.listeners.size > 0) {
        this.readAgain = false;
        this.read();
      }
    });
  }

  private async readAll(): Promise<void> {
    try {
      for (;;) {
        const rows = await this.conn.db.selectFrom('changes').select(['id', 'kind', 'subject'])
          .where('id', '>', this.cursor).orderBy('id').limit(PAGE).execute();
        for (const r of rows) this.deliver(num(r.id), { kind: r.kind, subject: r.subject });
        if (rows.length < PAGE || this.listeners.size === 0) return;
      }
    } catch {
      // The database is busy or gone for a moment; the next tick or reconnect reads again.
    }
  }

  private deliver(id: number, change: Change): void {
    this.cursor = Math.max(this.cursor, id);
    for (const fn of [...this.listeners]) {
      try {
        fn(change);
      } catch {
        // A throwing subscriber must not stop the others or the feed.
      }
    }
  }
}
