// Errors of the registry's database. The message names the database as a
// user wrote it (a PostgreSQL URL without its password, or the SQLite file)
// and says what to do; callers discriminate on `code`.
import { InselError, type ErrorContext } from '../errors.js';

export type StoreErrorCode =
  /** a row with this key exists already (a site, user, code, certificate, session) */
  | 'INSEL_STORE_EXISTS'
  /** the row an update names does not exist (an unknown site, user, code, session) */
  | 'INSEL_STORE_NOT_FOUND'
  /** an argument the store refuses on its own: a bad `database` setting, an empty revocation filter */
  | 'INSEL_STORE_INVALID'
  /** the database cannot be reached or opened */
  | 'INSEL_STORE_UNAVAILABLE'
  /** the schema could not be brought to this version of insel */
  | 'INSEL_STORE_MIGRATION';

export class StoreError extends InselError {
  declare readonly code: StoreErrorCode;

  constructor(code: StoreErrorCode, message: string, ctx: ErrorContext = {}) {
    super(code, message, ctx);
  }
}

/** A PostgreSQL URL as it may appear in messages and logs: the password replaced by "***". */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return 'the configured database URL (unparsable)';
  }
}

/** What a constraint violation means for the caller, from SQLite's and PostgreSQL's error codes. */
export function violation(err: unknown): 'exists' | 'missing' | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === '23505' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE') return 'exists';
  if (code === '23503' || code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return 'missing';
  return undefined;
}

/** A failure to reach or use the database, in words an operator can act on; other errors pass unchanged. */
export function storeFailure(err: unknown, where: string): unknown {
  if (err instanceof StoreError) return err;
  const code = String((err as { code?: unknown } | null)?.code ?? '');
  const message = (err as Error | null)?.message ?? String(err);
  if (/^SQLITE_(BUSY|LOCKED|CANTOPEN|IOERR|FULL|READONLY|CORRUPT|NOTADB)/.test(code)) {
    return new StoreError('INSEL_STORE_UNAVAILABLE',
      `the registry ${where} cannot be used (${code}: ${message}): another insel command may hold it too long; otherwise check the disk (full, read-only) and the file`,
      { file: where, cause: err });
  }
  if (/^(E[A-Z]+|08...|57P..|53...)$/.test(code) || /Connection terminated|timeout exceeded when trying to connect/i.test(message)) {
    return unavailable(where, err);
  }
  return err;
}

/** PostgreSQL cannot be reached, or refuses the login or the database. */
export function unavailable(where: string, err: unknown): StoreError {
  const e = err as { code?: string; message?: string };
  const why = e.code !== undefined && !/^\d/.test(e.code) ? `${e.code}: ${e.message ?? ''}` : (e.message ?? String(err));
  return new StoreError('INSEL_STORE_UNAVAILABLE',
    `PostgreSQL at ${where} is unavailable (${why}): start the server, or fix database in hq.toml (user, password, host, port, database name)`,
    { cause: err });
}
