// Enrollment codes redeemed per second by the registry (src/store), the
// part of an enrollment the database decides: CODES codes are added, then
// all redeemed with CONCURRENCY redemptions in flight (each one atomic
// UPDATE … WHERE redeemed_at IS NULL). On SQLite in a temp dir and, when
// INSEL_TEST_PG names a PostgreSQL admin URL, on a fresh database there
// (dropped afterwards). TLS and the CSR signature at HQ are not in it.
import { createHash, randomBytes } from 'node:crypto';
import { openRegistry } from '../src/store/registry.js';
import { makePostgresDatabase, makeSqliteDatabase, type TestDatabase } from '../src/store/testing.js';
import { why } from './report.js';

export interface CodesRow {
  database: string;
  perSecond?: number;
  note?: string;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest();

async function redeemRate(db: TestDatabase, codes: number, concurrency: number): Promise<number> {
  const reg = await openRegistry(db.options);
  try {
    await reg.addSite('main', ['eng']);
    const items = Array.from({ length: codes }, (_, i) => ({ id: `bench${i}`, secret: randomBytes(20) }));
    const expiresAt = new Date(Date.now() + 3600_000);
    for (const c of items) await reg.addCode({ id: c.id, secretHash: sha(c.secret), scope: { role: 'user', name: c.id, site: 'main', groups: ['eng'] }, expiresAt, createdBy: 'bench' });
    let next = 0;
    let won = 0;
    const t0 = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < items.length) {
          const c = items[next++]!;
          if ((await reg.redeemCode(c.id, sha(c.secret), new Date())).ok) won++;
        }
      }),
    );
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    if (won !== codes) throw new Error(`${won} of ${codes} codes redeemed`);
    return codes / secs;
  } finally {
    await reg.close();
  }
}

export async function codesRows(codes: number, concurrency: number): Promise<CodesRow[]> {
  const pg = process.env['INSEL_TEST_PG'];
  const dbs: [string, (() => Promise<TestDatabase>) | string][] = [
    ['SQLite (WAL, temp dir)', makeSqliteDatabase],
    ['PostgreSQL (INSEL_TEST_PG)', pg === undefined || pg === '' ? 'not available: set INSEL_TEST_PG to an admin URL (postgres://insel:insel@127.0.0.1:5432/insel)' : makePostgresDatabase(pg)],
  ];
  const rows: CodesRow[] = [];
  for (const [database, make] of dbs) {
    if (typeof make === 'string') {
      rows.push({ database, note: make });
      continue;
    }
    let db: TestDatabase | undefined;
    try {
      db = await make();
      rows.push({ database, perSecond: await redeemRate(db, codes, concurrency) });
    } catch (err) {
      rows.push({ database, note: `failed: ${why(err)}` });
    } finally {
      await db?.cleanup();
    }
  }
  return rows;
}
