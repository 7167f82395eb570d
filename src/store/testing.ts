// Databases for the registry tests: a temp directory (SQLite) or a fresh,
// uniquely named database on the PostgreSQL server INSEL_TEST_PG points at
// (an admin URL, e.g. postgres://insel:insel@127.0.0.1:5432/insel), dropped
// afterwards. Helpers run tests at the same time, so names carry the pid.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
import pg from 'pg';
import type { OpenOptions, Registry } from './types.js';
import { openRegistry } from './registry.js';

export interface TestDatabase {
  options: OpenOptions;
  /** another Registry on the same database */
  open(): Promise<Registry>;
  /** runs a fixed statement on the database directly, behind the registry's back */
  exec(statement: string): Promise<void>;
  cleanup(): Promise<void>;
}

export type MakeTestDatabase = () => Promise<TestDatabase>;

export const makeSqliteDatabase: MakeTestDatabase = async () => {
  const dir = mkdtempSync(join(tmpdir(), 'insel-store-'));
  const options: OpenOptions = { database: 'sqlite', dir };
  const exec = async (statement: string): Promise<void> => {
    const db = new Sqlite(join(dir, 'hq.db'));
    try {
      db.exec(statement);
    } finally {
      db.close();
    }
  };
  return { options, open: () => openRegistry(options), exec, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
};

let made = 0;

export function makePostgresDatabase(adminUrl: string): MakeTestDatabase {
  return async () => {
    // An identifier cannot be a query parameter; this one is built from digits and hex only.
    const name = `insel_t_${process.pid}_${++made}_${randomBytes(3).toString('hex')}`;
    await admin(adminUrl, `CREATE DATABASE ${name}`);
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    const options: OpenOptions = { database: url.toString(), dir: tmpdir() };
    return {
      options, open: () => openRegistry(options), exec: (statement) => admin(options.database, statement),
      cleanup: () => admin(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
    };
  };
}

async function admin(url: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

/**
 * INSEL_TEST_PG when it names a reachable server, else why the PostgreSQL
 * tests cannot run. With CI=true that is a failure: CI must test both dialects.
 */
export async function testPostgres(): Promise<{ url: string } | { skip: string }> {
  const url = process.env['INSEL_TEST_PG'];
  let why: string | undefined;
  if (url === undefined || url === '') {
    why = 'INSEL_TEST_PG is not set (an admin URL such as postgres://insel:insel@127.0.0.1:5432/insel; scripts/ci-postgres.sh sets one up)';
  } else {
    try {
      await admin(url, 'SELECT 1');
    } catch (err) {
      why = `PostgreSQL at INSEL_TEST_PG is unreachable: ${(err as Error).message}`;
    }
  }
  if (why === undefined) return { url: url! };
  if (process.env['CI'] === 'true') throw new Error(`CI lacks a required capability: ${why}`);
  return { skip: why };
}

/** Resolves when `check` holds; rejects after `ms` with `what` (conditions, not sleeps). */
export async function waitFor(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
