// The registry suite on SQLite and on PostgreSQL (INSEL_TEST_PG; required
// under CI=true), and what only one dialect has: how an unreachable or
// misconfigured database is reported, and the LISTEN connection coming back.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import pg from 'pg';
import { openRegistry } from './registry.js';
import { StoreError } from './errors.js';
import { registrySuite } from './registry-suite.js';
import { makePostgresDatabase, makeSqliteDatabase, testPostgres, waitFor } from './testing.js';

registrySuite('sqlite', makeSqliteDatabase);

const postgres = await testPostgres();
if ('url' in postgres) registrySuite('postgres', makePostgresDatabase(postgres.url));
else describe('registry on postgres', { skip: postgres.skip }, () => it('needs INSEL_TEST_PG'));

describe('opening a registry that cannot be used', () => {
  it('an unreachable PostgreSQL gives INSEL_STORE_UNAVAILABLE naming the URL without its password', async () => {
    const err = await openRegistry({ database: 'postgres://hq:s3cret-pw@127.0.0.1:1/org', dir: tmpdir() }).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof StoreError, String(err));
    assert.equal(err.code, 'INSEL_STORE_UNAVAILABLE');
    assert.match(err.message, /postgres:\/\/hq:\*\*\*@127\.0\.0\.1:1\/org/);
    assert.match(err.message, /start the server/);
    assert.doesNotMatch(err.message, /s3cret/);
  });

  it('a missing HQ directory gives INSEL_STORE_UNAVAILABLE naming the file', async () => {
    const dir = join(tmpdir(), `insel-no-such-dir-${process.pid}`, 'x');
    await assert.rejects(openRegistry({ database: 'sqlite', dir }), (e: unknown) =>
      e instanceof StoreError && e.code === 'INSEL_STORE_UNAVAILABLE' && e.message.includes(join(dir, 'hq.db')));
  });

  it('a database setting that is neither sqlite nor a PostgreSQL URL is refused', async () => {
    await assert.rejects(openRegistry({ database: 'mysql://root:pw-1234@db/x', dir: tmpdir() }), (e: unknown) =>
      e instanceof StoreError && e.code === 'INSEL_STORE_INVALID' && /sqlite/.test(e.message) && !e.message.includes('pw-1234'));
  });
});

describe('PostgreSQL change notices', { skip: 'skip' in postgres ? postgres.skip : undefined }, () => {
  it('a subscriber whose LISTEN connection was cut reconnects and catches up', async () => {
    const db = await makePostgresDatabase((postgres as { url: string }).url)();
    try {
      const a = await db.open();
      const b = await db.open();
      try {
        const heard: string[] = [];
        b.subscribe((c) => heard.push(c.subject));
        await a.publish({ kind: 'k', subject: 'before' });
        await waitFor(() => heard.includes('before'), 5000, 'the first notice');
        // Cut every LISTEN connection on this database, then publish while it is down.
        await killListeners(db.options.database);
        await a.publish({ kind: 'k', subject: 'while-down' });
        await waitFor(() => heard.includes('while-down'), 5000, 'the notice published while disconnected');
        await a.publish({ kind: 'k', subject: 'after' });
        await waitFor(() => heard.includes('after'), 5000, 'a notice after the reconnect');
      } finally {
        await a.close();
        await b.close();
      }
    } finally {
      await db.cleanup();
    }
  });
});

async function killListeners(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()");
  } finally {
    await client.end();
  }
}
