// The registry's tables as kysely sees them (migrations/ creates them).
// Times are milliseconds since the epoch in BIGINT columns; PostgreSQL hands
// BIGINT back as a string, SQLite as a number, so reads go through rows.ts.
// Lists of groups are JSON arrays in TEXT; secrets are hex SHA-256 digests.
import type { ColumnType } from 'kysely';

/** A BIGINT: written as a number, read as a number (SQLite) or a string (PostgreSQL). */
export type Int8 = ColumnType<number | string, number, number>;
/** An auto-increment id: assigned by the database, read like an Int8. */
export type SerialId = ColumnType<number | string, never, never>;

export interface SitesTable { name: string; public_addr: string | null; udp_addr: string | null; status: string; last_heartbeat: Int8 | null; groups: string }
export interface UsersTable { name: string; site: string; groups: string; status: string; created_at: Int8 }
export interface ServicesTable { site: string; name: string; proto: string; groups: string }
export interface CodesTable {
  id: string; secret_hash: string; role: string; name: string; site: string | null; groups: string;
  created_at: Int8; expires_at: Int8; created_by: string; redeemed_at: Int8 | null; redeemed_serial: string | null;
}
export interface CertsTable { serial: string; role: string; name: string; site: string | null; not_after: Int8; ca_serial: string; revoked_at: Int8 | null; reason: string | null }
export interface SettingsTable { key: string; value: string }
export interface SessionsTable {
  id: string; secret_hash: string; user_name: string; service: string; from_site: string; target_site: string;
  started_at: Int8; expires_at: Int8; claimed_at: Int8 | null; ended_at: Int8 | null; bytes_in: Int8; bytes_out: Int8;
}
export interface EventsTable { id: SerialId; at: Int8; kind: string; subject: string; detail: string }
export interface ChangesTable { id: SerialId; at: Int8; kind: string; subject: string }

export interface Schema {
  sites: SitesTable;
  users: UsersTable;
  services: ServicesTable;
  codes: CodesTable;
  certs: CertsTable;
  settings: SettingsTable;
  sessions: SessionsTable;
  events: EventsTable;
  changes: ChangesTable;
}
