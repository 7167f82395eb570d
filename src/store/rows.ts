// Database rows to the Registry's types. BIGINTs arrive as strings from
// PostgreSQL and numbers from SQLite; groups are JSON arrays in TEXT.
import type { Selectable } from 'kysely';
import type { CertsTable, CodesTable, ServicesTable, SessionsTable, SitesTable, UsersTable } from './schema.js';
import type { CertRow, CodeRow, ServiceRow, SessionRow, SiteRow, UserRow } from './types.js';

export function num(v: number | string): number {
  return typeof v === 'number' ? v : Number(v);
}

export function date(v: number | string): Date {
  return new Date(num(v));
}

export function dateOrNull(v: number | string | null): Date | null {
  return v === null ? null : date(v);
}

export function groups(text: string): string[] {
  const v: unknown = JSON.parse(text);
  return Array.isArray(v) ? v.filter((g): g is string => typeof g === 'string') : [];
}

type Row<T> = Selectable<T>;

export function toSite(r: Row<SitesTable>): SiteRow {
  return { name: r.name, public: r.public_addr, udp: r.udp_addr, status: r.status as SiteRow['status'], lastHeartbeat: dateOrNull(r.last_heartbeat), groups: groups(r.groups) };
}

export function toUser(r: Row<UsersTable>): UserRow {
  return { name: r.name, site: r.site, groups: groups(r.groups), status: r.status as UserRow['status'], createdAt: date(r.created_at) };
}

export function toService(r: Row<ServicesTable>): ServiceRow {
  return { name: r.name, site: r.site, proto: r.proto as ServiceRow['proto'], groups: groups(r.groups) };
}

export function toCode(r: Row<CodesTable>): CodeRow {
  const row: CodeRow = {
    id: r.id, role: r.role as CodeRow['role'], name: r.name, groups: groups(r.groups),
    expiresAt: date(r.expires_at), redeemedAt: dateOrNull(r.redeemed_at), createdBy: r.created_by,
  };
  if (r.site !== null) row.site = r.site;
  return row;
}

export function toCert(r: Row<CertsTable>): CertRow {
  return { serial: r.serial, role: r.role, name: r.name, site: r.site, notAfter: date(r.not_after), revokedAt: dateOrNull(r.revoked_at), reason: r.reason, caSerial: r.ca_serial };
}

export function toSession(r: Row<SessionsTable>): SessionRow {
  return {
    id: r.id, user: r.user_name, service: r.service, fromSite: r.from_site, startedAt: date(r.started_at),
    endedAt: dateOrNull(r.ended_at), bytesIn: num(r.bytes_in), bytesOut: num(r.bytes_out),
  };
}
