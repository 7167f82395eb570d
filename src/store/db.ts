// Opens the registry's database: SQLite (DIR/hq.db, WAL) or PostgreSQL (a
// pool), as one kysely handle. Unreachable databases become StoreErrors that
// name the database (never a password) and what to do.
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
import pg from 'pg';
import { Kysely, PostgresDialect, sql } from 'kysely';
import type { Dialect, OpenOptions } from './types.js';
import type { Schema } from './schema.js';
import { StoreError, redactUrl, unavailable } from './errors.js';
import { TurnTakingSqliteDialect } from './sqlite-turns.js';

export interface Connection {
  db: Kysely<Schema>;
  dialect: Dialect;
  /** the database as messages name it: the SQLite file, or the URL without password */
  where: string;
  /** PostgreSQL only: a client outside the pool, for LISTEN */
  newClient?: () => pg.Client;
}

/** How long a writer waits for another SQLite writer (another HQ command) before failing. */
const SQLITE_BUSY_MS = 5000;
/** How long a PostgreSQL connect may take before the store calls the server unreachable. */
const PG_CONNECT_MS = 5000;
const PG_POOL = 10;

export function isPostgresUrl(database: string): boolean {
  return database.startsWith('postgres://') || database.startsWith('postgresql://');
}

export async function connect(o: OpenOptions): Promise<Connection> {
  if (o.database === 'sqlite') return openSqlite(join(o.dir, 'hq.db'));
  if (isPostgresUrl(o.database)) return openPostgres(o.database, o.poolSize ?? PG_POOL);
  throw new StoreError('INSEL_STORE_INVALID',
    `database ${o.database.includes('://') ? redactUrl(o.database) : JSON.stringify(o.database.slice(0, 40))} is not supported:` +
    ' set database = "sqlite" (the default, DIR/hq.db) or "postgres://user:password@host:port/db"', { field: 'database' });
}

function openSqlite(file: string): Connection {
  let handle: Sqlite.Database;
  try {
    // Created 0600 here: the file holds code and ticket digests, no one else's business.
    closeSync(openSync(file, 'a', 0o600));
    handle = new Sqlite(file);
    handle.pragma('journal_mode = WAL');
    handle.pragma(`busy_timeout = ${SQLITE_BUSY_MS}`);
    handle.pragma('foreign_keys = ON');
  } catch (err) {
    throw new StoreError('INSEL_STORE_UNAVAILABLE',
      `the registry ${file} cannot be opened (${(err as Error).message}): check that the HQ directory exists and is writable (insel hq init)`,
      { file, cause: err });
  }
  return { db: new Kysely<Schema>({ dialect: new TurnTakingSqliteDialect({ database: handle }, file) }), dialect: 'sqlite', where: file };
}

async function openPostgres(url: string, max: number): Promise<Connection> {
  const where = redactUrl(url);
  const pool = new pg.Pool({ connectionString: url, max, connectionTimeoutMillis: PG_CONNECT_MS });
  // An idle pooled connection that the server drops emits 'error' on the pool;
  // unhandled it would kill HQ. The next query simply opens a new connection.
  pool.on('error', () => {});
  const db = new Kysely<Schema>({ dialect: new PostgresDialect({ pool }) });
  try {
    await sql`select 1`.execute(db);
  } catch (err) {
    await db.destroy();
    throw unavailable(where, err);
  }
  return { db, dialect: 'postgres', where, newClient: () => new pg.Client({ connectionString: url, connectionTimeoutMillis: PG_CONNECT_MS }) };
}
