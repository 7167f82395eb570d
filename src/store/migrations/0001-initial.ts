// The first schema: every table of the registry. Written with kysely's
// schema builder so SQLite and PostgreSQL run the same migration; the only
// difference is how an auto-increment id is spelled.
import type { Kysely, Migration } from 'kysely';
import type { Dialect } from '../types.js';
import { addSerialId } from './serial-id.js';

export function initial(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.createTable('sites')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('public_addr', 'text')
        .addColumn('udp_addr', 'text')
        .addColumn('status', 'text', (c) => c.notNull().defaultTo('enrolled'))
        .addColumn('last_heartbeat', 'bigint')
        .addColumn('groups', 'text', (c) => c.notNull().defaultTo('[]'))
        .execute();
      await db.schema.createTable('users')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('site', 'text', (c) => c.notNull().references('sites.name'))
        .addColumn('groups', 'text', (c) => c.notNull().defaultTo('[]'))
        .addColumn('status', 'text', (c) => c.notNull().defaultTo('active'))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('users_site').on('users').column('site').execute();
      await db.schema.createTable('services')
        .addColumn('site', 'text', (c) => c.notNull().references('sites.name'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('proto', 'text', (c) => c.notNull())
        .addColumn('groups', 'text', (c) => c.notNull().defaultTo('[]'))
        .addPrimaryKeyConstraint('services_pk', ['site', 'name'])
        .execute();
      await db.schema.createTable('codes')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('secret_hash', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('site', 'text')
        .addColumn('groups', 'text', (c) => c.notNull().defaultTo('[]'))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('redeemed_at', 'bigint')
        .addColumn('redeemed_serial', 'text')
        .execute();
      await db.schema.createTable('certs')
        .addColumn('serial', 'text', (c) => c.primaryKey())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('site', 'text')
        .addColumn('not_after', 'bigint', (c) => c.notNull())
        .addColumn('ca_serial', 'text', (c) => c.notNull())
        .addColumn('revoked_at', 'bigint')
        .addColumn('reason', 'text')
        .execute();
      await db.schema.createIndex('certs_identity').on('certs').columns(['role', 'name']).execute();
      await db.schema.createIndex('certs_revoked').on('certs').column('revoked_at').execute();
      await db.schema.createTable('settings')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createTable('sessions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('secret_hash', 'text', (c) => c.notNull())
        .addColumn('user_name', 'text', (c) => c.notNull())
        .addColumn('service', 'text', (c) => c.notNull())
        .addColumn('from_site', 'text', (c) => c.notNull())
        .addColumn('target_site', 'text', (c) => c.notNull())
        .addColumn('started_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('claimed_at', 'bigint')
        .addColumn('ended_at', 'bigint')
        .addColumn('bytes_in', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('bytes_out', 'bigint', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema.createIndex('sessions_started').on('sessions').column('started_at').execute();
      await db.schema.createIndex('sessions_expires').on('sessions').column('expires_at').execute();
      await addSerialId(db.schema.createTable('events'), dialect)
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('detail', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('events_kind').on('events').columns(['kind', 'id']).execute();
      await addSerialId(db.schema.createTable('changes'), dialect)
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .execute();
    },
  };
}
