// The registry's schema versions, in code (no file-system discovery, so it
// runs from dist/ and from a bundle), and the step that applies them.
import { Migrator, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import type { Dialect } from '../types.js';
import { StoreError } from '../errors.js';
import { initial } from './0001-initial.js';

/** Every migration by name; names sort in the order they run. Append, never edit a released one. */
export function migrations(dialect: Dialect): Record<string, Migration> {
  return {
    '0001-initial': initial(dialect),
  };
}

/** Two processes opening one database at once may collide on the first migration; the loser retries. */
const ATTEMPTS = 5;

/** Brings the schema to the newest version; a database already there is left as it is. */
export async function migrate(db: Kysely<unknown>, dialect: Dialect, where: string): Promise<void> {
  const provider: MigrationProvider = { getMigrations: async () => migrations(dialect) };
  const migrator = new Migrator({ db, provider });
  let failure: unknown;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const { error } = await migrator.migrateToLatest();
    if (error === undefined) return;
    failure = error;
    await new Promise((r) => setTimeout(r, 20 * attempt * attempt));
  }
  const why = failure instanceof Error ? failure.message : String(failure);
  throw new StoreError('INSEL_STORE_MIGRATION',
    `the registry schema in ${where} could not be migrated to this version of insel: ${why}` +
    ' (a database written by a newer insel needs that version; otherwise restore it from a backup)', { cause: failure });
}
