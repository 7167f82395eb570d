// SQLite connections to one file in one process take turns. better-sqlite3
// is synchronous: while one connection keeps a transaction open across an
// await, another connection's write waits in SQLite's busy handler, which
// blocks the event loop, so the first can never commit (a deadlock until
// busy_timeout). Other processes are unaffected: their event loops run on.
import { resolve } from 'node:path';
import { SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver, type SqliteDialectConfig } from 'kysely';

/** A FIFO lock over one file, shared by every connection to it in this process. */
class Turns {
  users = 0;
  private tail: Promise<void> = Promise.resolve();

  take(): Promise<() => void> {
    let release!: () => void;
    const mine = new Promise<void>((r) => { release = r; });
    const before = this.tail;
    this.tail = before.then(() => mine);
    return before.then(() => release);
  }
}

const byFile = new Map<string, Turns>();

class TurnTakingDriver extends SqliteDriver {
  private release: (() => void) | undefined;

  constructor(config: SqliteDialectConfig, private readonly file: string, private readonly turns: Turns) {
    super(config);
    turns.users++;
  }

  override async acquireConnection(): Promise<DatabaseConnection> {
    const connection = await super.acquireConnection(); // this driver's own one-at-a-time first
    this.release = await this.turns.take();
    return connection;
  }

  override async releaseConnection(): Promise<void> {
    const release = this.release;
    this.release = undefined;
    release?.();
    await super.releaseConnection();
  }

  override async destroy(): Promise<void> {
    await super.destroy();
    if (--this.turns.users === 0) byFile.delete(this.file);
  }
}

/** kysely's SQLite dialect, with connections to the same file in this process taking turns. */
export class TurnTakingSqliteDialect extends SqliteDialect {
  constructor(private readonly config: SqliteDialectConfig, private readonly file: string) {
    super(config);
  }

  override createDriver(): Driver {
    const file = resolve(this.file);
    let turns = byFile.get(file);
    if (turns === undefined) byFile.set(file, (turns = new Turns()));
    return new TurnTakingDriver(this.config, file, turns);
  }
}
