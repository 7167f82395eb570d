// The registry over kysely: one implementation for SQLite and PostgreSQL.
// Values reach SQL only as parameters (kysely's builder); single-use things
// (enrollment codes, relay tickets) are taken by one conditional UPDATE each,
// so of any number of racing callers exactly one wins, across processes too.
import type { Kysely } from 'kysely';
import type { CertRow, CodeScope, Dialect, RedeemPlace, OpenOptions, OrgEvent, RedeemResult, Registry, ServiceRow, SessionRow, SiteRow, UserRow } from './types.js';
import type { Schema } from './schema.js';
import { connect, type Connection } from './db.js';
import { migrate } from './migrations/index.js';
import { ChangeFeed, type Change } from './changes.js';
import { StoreError, storeFailure, violation } from './errors.js';
import { claimTicket, redeemCode } from './single-use.js';
import { date, num, toCert, toService, toSession, toSite, toUser } from './rows.js';

/** Rows a list of sessions or events returns unless told otherwise, and at most. */
const DEFAULT_LIMIT = 1000;
const MAX_LIMIT = 10_000;
/** Services one site may publish; a hostile site must not fill HQ's tables. */
const SERVICES_PER_SITE = 1000;
/** The events table keeps the newest events only (failed redeems are events, and anyone can cause those). */
const EVENTS_KEEP = 100_000;
const EVENT_DETAIL_MAX = 16 * 1024;
/** How long an expired, unclaimed ticket stays visible in sessions() before it is dropped. */
const UNCLAIMED_KEEP_MS = 60_000;

/** Opens the registry, creating or migrating its schema; throws StoreError when the database cannot be used. */
export async function openRegistry(o: OpenOptions): Promise<Registry> {
  const conn = await connect(o);
  try {
    await migrate(conn.db as unknown as Kysely<unknown>, conn.dialect, conn.where);
    return new SqlRegistry(conn, await ChangeFeed.open(conn));
  } catch (err) {
    await conn.db.destroy();
    throw storeFailure(err, conn.where);
  }
}

interface Refusals { exists?: string; missing?: string }

function limitOf(limit: number | undefined): number {
  return Math.min(Math.max(Math.trunc(limit ?? DEFAULT_LIMIT), 1), MAX_LIMIT);
}

class SqlRegistry implements Registry {
  readonly dialect: Dialect;
  private readonly db: Kysely<Schema>;
  private closed = false;

  constructor(private readonly conn: Connection, private readonly feed: ChangeFeed) {
    this.dialect = conn.dialect;
    this.db = conn.db;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.feed.close();
    await this.db.destroy();
  }

  /** Runs a query; constraint violations become EXISTS / NOT_FOUND with the caller's words, outages UNAVAILABLE. */
  private async q<T>(run: () => Promise<T>, refusals: Refusals = {}): Promise<T> {
    try {
      return await run();
    } catch (err) {
      const v = violation(err);
      if (v === 'exists' && refusals.exists !== undefined) throw new StoreError('INSEL_STORE_EXISTS', refusals.exists, { cause: err });
      if (v === 'missing' && refusals.missing !== undefined) throw new StoreError('INSEL_STORE_NOT_FOUND', refusals.missing, { cause: err });
      throw storeFailure(err, this.conn.where);
    }
  }

  /** An UPDATE that must have hit a row. */
  private found(updated: bigint, what: string): void {
    if (updated === 0n) throw new StoreError('INSEL_STORE_NOT_FOUND', `${what} is not in the registry`);
  }

  // sites

  addSite(name: string, groups: string[]): Promise<void> {
    return this.q(async () => {
      await this.db.insertInto('sites').values({ name, public_addr: null, udp_addr: null, status: 'enrolled', last_heartbeat: null, groups: JSON.stringify(groups) }).execute();
    }, { exists: `site ${name} exists already` });
  }

  site(name: string): Promise<SiteRow | undefined> {
    return this.q(async () => {
      const r = await this.db.selectFrom('sites').selectAll().where('name', '=', name).executeTakeFirst();
      return r && toSite(r);
    });
  }

  sites(): Promise<SiteRow[]> {
    return this.q(async () => (await this.db.selectFrom('sites').selectAll().orderBy('name').execute()).map(toSite));
  }

  registerSite(name: string, pub: string, udp: string | null, services: Omit<ServiceRow, 'site'>[], now: Date): Promise<void> {
    if (services.length > SERVICES_PER_SITE) {
      return Promise.reject(new StoreError('INSEL_STORE_INVALID', `site ${name} publishes ${services.length} services; at most ${SERVICES_PER_SITE} are kept`));
    }
    return this.q(() => this.db.transaction().execute(async (trx) => {
      // The write comes first: on SQLite the transaction takes the write lock at once (no stale-read upgrade).
      const r = await trx.updateTable('sites').set({ public_addr: pub, udp_addr: udp, status: 'online', last_heartbeat: now.getTime() })
        .where('name', '=', name).where('status', '<>', 'revoked').executeTakeFirst();
      if (r.numUpdatedRows === 0n) await this.notRevoked(trx, name);
      await trx.deleteFrom('services').where('site', '=', name).execute();
      if (services.length > 0) {
        await trx.insertInto('services').values(services.map((s) => ({ site: name, name: s.name, proto: s.proto, groups: JSON.stringify(s.groups) }))).execute();
      }
    }), { exists: `site ${name} publishes a service name twice` });
  }

  /** Why an update of a site hit nothing: it is unknown, or revoked (a revoked site stays revoked). */
  private async notRevoked(db: Kysely<Schema>, name: string): Promise<never> {
    const r = await db.selectFrom('sites').select('status').where('name', '=', name).executeTakeFirst();
    if (r === undefined) throw new StoreError('INSEL_STORE_NOT_FOUND', `site ${name} is not in the registry`);
    throw new StoreError('INSEL_STORE_INVALID', `site ${name} is revoked`);
  }

  heartbeat(name: string, now: Date): Promise<void> {
    return this.q(async () => {
      const r = await this.db.updateTable('sites').set({ last_heartbeat: now.getTime(), status: 'online' })
        .where('name', '=', name).where('status', '<>', 'revoked').executeTakeFirst();
      if (r.numUpdatedRows === 0n) await this.notRevoked(this.db, name);
    });
  }

  markOffline(olderThan: Date): Promise<string[]> {
    return this.q(async () => {
      const rows = await this.db.updateTable('sites').set({ status: 'offline' })
        .where('status', '=', 'online').where('last_heartbeat', '<', olderThan.getTime()).returning('name').execute();
      return rows.map((r) => r.name).sort();
    });
  }

  setSiteStatus(name: string, status: SiteRow['status']): Promise<void> {
    return this.q(async () => {
      const r = await this.db.updateTable('sites').set({ status }).where('name', '=', name).executeTakeFirst();
      this.found(r.numUpdatedRows, `site ${name}`);
    });
  }

  // users

  addUser(u: Omit<UserRow, 'createdAt' | 'status'>, now: Date): Promise<void> {
    return this.q(async () => {
      await this.db.insertInto('users').values({ name: u.name, site: u.site, groups: JSON.stringify(u.groups), status: 'active', created_at: now.getTime() }).execute();
    }, { exists: `user ${u.name} exists already`, missing: `site ${u.site} is not in the registry` });
  }

  user(name: string): Promise<UserRow | undefined> {
    return this.q(async () => {
      const r = await this.db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
      return r && toUser(r);
    });
  }

  users(site?: string): Promise<UserRow[]> {
    return this.q(async () => {
      let query = this.db.selectFrom('users').selectAll().orderBy('name');
      if (site !== undefined) query = query.where('site', '=', site);
      return (await query.execute()).map(toUser);
    });
  }

  setUserStatus(name: string, status: UserRow['status']): Promise<void> {
    return this.q(async () => {
      const r = await this.db.updateTable('users').set({ status }).where('name', '=', name).executeTakeFirst();
      this.found(r.numUpdatedRows, `user ${name}`);
    });
  }

  // services

  services(): Promise<ServiceRow[]> {
    return this.q(async () => (await this.db.selectFrom('services').selectAll().orderBy('site').orderBy('name').execute()).map(toService));
  }

  service(name: string, site: string): Promise<ServiceRow | undefined> {
    return this.q(async () => {
      const r = await this.db.selectFrom('services').selectAll().where('site', '=', site).where('name', '=', name).executeTakeFirst();
      return r && toService(r);
    });
  }

  // enrollment codes

  addCode(c: { id: string; secretHash: Buffer; scope: CodeScope; expiresAt: Date; createdBy: string }): Promise<void> {
    return this.q(async () => {
      await this.db.insertInto('codes').values({
        id: c.id, secret_hash: c.secretHash.toString('hex'), role: c.scope.role, name: c.scope.name, site: c.scope.site ?? null,
        groups: JSON.stringify(c.scope.groups), created_at: Date.now(), expires_at: c.expiresAt.getTime(), created_by: c.createdBy,
        redeemed_at: null, redeemed_serial: null,
      }).execute();
    }, { exists: `enrollment code ${c.id} exists already` });
  }

  redeemCode(id: string, secretHash: Buffer, now: Date, place?: RedeemPlace): Promise<RedeemResult> {
    return this.q(() => redeemCode(this.db, id, secretHash, now, place));
  }

  setCodeSerial(id: string, serial: string): Promise<void> {
    return this.q(async () => {
      const r = await this.db.updateTable('codes').set({ redeemed_serial: serial }).where('id', '=', id).executeTakeFirst();
      this.found(r.numUpdatedRows, `enrollment code ${id}`);
    });
  }

  // certificates

  addCert(c: Omit<CertRow, 'revokedAt' | 'reason'>): Promise<void> {
    return this.q(async () => {
      await this.db.insertInto('certs').values({
        serial: c.serial, role: c.role, name: c.name, site: c.site, not_after: c.notAfter.getTime(), ca_serial: c.caSerial, revoked_at: null, reason: null,
      }).execute();
    }, { exists: `certificate ${c.serial} exists already` });
  }

  certsOf(role: string, name: string): Promise<CertRow[]> {
    return this.q(async () => (await this.db.selectFrom('certs').selectAll().where('role', '=', role).where('name', '=', name)
      .orderBy('not_after').execute()).map(toCert));
  }

  revokeCerts(filter: { serial?: string; role?: string; name?: string }, reason: string, now: Date): Promise<CertRow[]> {
    if (filter.serial === undefined && filter.name === undefined) {
      // {} or {role} alone would revoke a whole organization or role: never by accident.
      return Promise.reject(new StoreError('INSEL_STORE_INVALID', 'a revocation names a certificate serial or an identity name'));
    }
    return this.q(async () => {
      let query = this.db.updateTable('certs').set({ revoked_at: now.getTime(), reason }).where('revoked_at', 'is', null);
      if (filter.serial !== undefined) query = query.where('serial', '=', filter.serial);
      if (filter.role !== undefined) query = query.where('role', '=', filter.role);
      if (filter.name !== undefined) query = query.where('name', '=', filter.name);
      return (await query.returningAll().execute()).map(toCert);
    });
  }

  liveCerts(now: Date): Promise<CertRow[]> {
    return this.q(async () => (await this.db.selectFrom('certs').selectAll().where('revoked_at', 'is', null).where('not_after', '>', now.getTime())
      .orderBy('role').orderBy('name').execute()).map(toCert));
  }

  revokedCerts(): Promise<CertRow[]> {
    // Not limited: the CRL must list every one.
    return this.q(async () => (await this.db.selectFrom('certs').selectAll().where('revoked_at', 'is not', null).orderBy('revoked_at').orderBy('serial').execute()).map(toCert));
  }

  // settings

  getSetting(key: string): Promise<string | undefined> {
    return this.q(async () => (await this.db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirst())?.value);
  }

  setSetting(key: string, value: string): Promise<void> {
    return this.q(async () => {
      await this.db.insertInto('settings').values({ key, value }).onConflict((oc) => oc.column('key').doUpdateSet({ value })).execute();
    });
  }

  // sessions

  openSession(s: Omit<SessionRow, 'endedAt' | 'bytesIn' | 'bytesOut'> & { targetSite: string; expiresAt: Date; secretHash: Buffer }): Promise<void> {
    return this.q(async () => {
      await this.db.insertInto('sessions').values({
        id: s.id, secret_hash: s.secretHash.toString('hex'), user_name: s.user, service: s.service, from_site: s.fromSite, target_site: s.targetSite,
        started_at: s.startedAt.getTime(), expires_at: s.expiresAt.getTime(), claimed_at: null, ended_at: null, bytes_in: 0, bytes_out: 0,
      }).execute();
      // Tickets never claimed are no sessions; dropping them keeps repeated authorizations from piling up.
      await this.db.deleteFrom('sessions').where('claimed_at', 'is', null).where('expires_at', '<', s.startedAt.getTime() - UNCLAIMED_KEEP_MS).execute();
    }, { exists: `session ${s.id} exists already` });
  }

  claimTicket(id: string, secretHash: Buffer, targetSite: string, now: Date): Promise<SessionRow | undefined> {
    return this.q(() => claimTicket(this.db, id, secretHash, targetSite, now));
  }

  endSession(id: string, bytesIn: number, bytesOut: number, now: Date): Promise<void> {
    return this.q(async () => {
      const r = await this.db.updateTable('sessions').set({ ended_at: now.getTime(), bytes_in: bytesIn, bytes_out: bytesOut })
        .where('id', '=', id).where('ended_at', 'is', null).executeTakeFirst();
      if (r.numUpdatedRows > 0n) return;
      // Ending an ended session again keeps the first report; an unknown one is an error.
      const known = await this.db.selectFrom('sessions').select('id').where('id', '=', id).executeTakeFirst();
      if (known === undefined) throw new StoreError('INSEL_STORE_NOT_FOUND', `session ${id} is not in the registry`);
    });
  }

  sessions(opts: { open?: boolean; limit?: number } = {}): Promise<SessionRow[]> {
    return this.q(async () => {
      let query = this.db.selectFrom('sessions').selectAll().orderBy('started_at', 'desc').orderBy('id').limit(limitOf(opts.limit));
      if (opts.open === true) query = query.where('ended_at', 'is', null);
      if (opts.open === false) query = query.where('ended_at', 'is not', null);
      return (await query.execute()).map(toSession);
    });
  }

  // events

  addEvent(e: OrgEvent, now: Date): Promise<void> {
    const detail = JSON.stringify(e.detail ?? null);
    if (detail.length > EVENT_DETAIL_MAX) {
      return Promise.reject(new StoreError('INSEL_STORE_INVALID', `event ${e.kind}: its detail is ${detail.length} characters, at most ${EVENT_DETAIL_MAX}`));
    }
    return this.q(async () => {
      const r = await this.db.insertInto('events').values({ at: now.getTime(), kind: e.kind, subject: e.subject, detail }).returning('id').executeTakeFirstOrThrow();
      await this.db.deleteFrom('events').where('id', '<=', num(r.id) - EVENTS_KEEP).execute();
    });
  }

  events(opts: { limit?: number; kind?: string } = {}): Promise<(OrgEvent & { at: Date })[]> {
    return this.q(async () => {
      let query = this.db.selectFrom('events').selectAll().orderBy('id', 'desc').limit(limitOf(opts.limit));
      if (opts.kind !== undefined) query = query.where('kind', '=', opts.kind);
      return (await query.execute()).map((r) => ({ kind: r.kind, subject: r.subject, detail: JSON.parse(r.detail) as unknown, at: date(r.at) }));
    });
  }

  // changes

  publish(change: Change): Promise<void> {
    return this.q(() => this.feed.publish(change));
  }

  subscribe(fn: (change: Change) => void): () => void {
    return this.feed.subscribe(fn);
  }
}
