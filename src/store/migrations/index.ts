// The registry's schema versions, in code (no file-system discovery, so it
// runs from dist/ and from a bundle), and the step that applies them.
import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import type { Dialect } from '../types.js';
import { StoreError } from '../errors.js';
import { initial } from './0001-initial.js';

/** Every migration by name; names sort in the order they run. Append, never edit a released one. */
export function migrations(dialect: Dialect): Record<string, Migration> {
  return {
    '0001-initial': initial(dialect),
  };
}

/** PostgreSQL processes creating kysely's tables at once may collide (a catalog race); the loser retries. */
const ATTEMPTS = 5;

function collided(err: unknown): boolean {
  const code = String((err as { code?: unknown } | null)?.code ?? '');
  return code === '23505' || code === '40001' || code === '40P01';
}

/** Brings the schema to the newest version; a database already there is left as it is. */
export async function migrate(db: Kysely<unknown>, dialect: Dialect, where: string): Promise<void> {
  const provider: MigrationProvider = { getMigrations: async () => migrations(dialect) };
  let failure: unknown;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    failure = dialect === 'sqlite' ? await migrateSqlite(db, provider) : (await new Migrator({ db, provider }).migrateToLatest()).error;
    if (failure === undefined || !collided(failure)) break;
    await new Promise((r) => setTimeout(r, 20 * attempt * attempt));
  }
  if (failure === undefined) return;
  const why = failure instanceof Error ? failure.message : String(failure);
  throw new StoreError('INSEL_STORE_MIGRATION',
    `the registry schema in ${where} could not be migrated to this version of insel: ${why}` +
    ' (a database written by a newer insel needs that version; otherwise restore it from a backup)', { cause: failure });
}

/**
 * kysely's SQLite migration lock only covers one connection. BEGIN IMMEDIATE
 * takes the file's write lock before anything is read, so another process
 * migrating the same file waits (busy_timeout) and then finds nothing to do.
 */
async function migrateSqlite(db: Kysely<unknown>, provider: MigrationProvider): Promise<unknown> {
  return db.connection().execute(async (conn) => {
    await sql`begin immediate`.execute(conn);
    const { error } = await new Migrator({ db: conn, provider, disableTransactions: true }).migrateToLatest();
    await sql.raw(error === undefined ? 'commit' : 'rollback').execute(conn);
    return error;
  });
}
