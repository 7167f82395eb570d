// The organization's registry as the rest of insel sees it: HQ's sites,
// users, services, enrollment codes, certificates, relay sessions and events.
// One implementation (registry.ts) over SQLite or PostgreSQL; callers never
// see SQL. Times are Dates, names are already checked (pki/identity.ts).
export type Dialect = 'sqlite' | 'postgres';
export interface OpenOptions { database: string /* "sqlite" | "postgres://…" */; dir: string /* for hq.db */; poolSize?: number /* PostgreSQL connections (default 10) */; }
export interface SiteRow { name: string; public: string | null; udp: string | null; status: 'enrolled' | 'online' | 'offline' | 'revoked'; lastHeartbeat: Date | null; groups: string[] /* groups it may grant */ }
export interface UserRow { name: string; site: string; groups: string[]; status: 'active' | 'revoked'; createdAt: Date }
export interface ServiceRow { name: string; site: string; proto: 'tcp' | 'udp'; groups: string[] }
export interface CodeScope { role: 'site' | 'user'; name: string; site?: string; groups: string[] }
export interface CodeRow extends CodeScope { id: string; expiresAt: Date; redeemedAt: Date | null; createdBy: string }
/** `scope`: the code is valid but enrolls someone else than the redeemer may (it is not spent; `code` says whom). */
export type RedeemResult = { ok: true; code: CodeRow } | { ok: false; why: 'unknown' | 'used' | 'expired' | 'secret' } | { ok: false; why: 'scope'; code: CodeRow };
/** Where a code is presented: a site forwards only codes of its own users (role user, that site). */
export interface RedeemPlace { role: 'user'; site: string }
export interface CertRow { serial: string; role: string; name: string; site: string | null; notAfter: Date; revokedAt: Date | null; reason: string | null; caSerial: string }
export interface SessionRow { id: string /* ticket id */; user: string; service: string /* svc@site */; fromSite: string; startedAt: Date; endedAt: Date | null; bytesIn: number; bytesOut: number }
export interface OrgEvent { kind: string; subject: string; detail: unknown }   // the events table's payload
export interface Registry {
  readonly dialect: Dialect;
  close(): Promise<void>;
  // sites
  addSite(name: string, groups: string[]): Promise<void>;          // throws StoreError INSEL_STORE_EXISTS
  site(name: string): Promise<SiteRow | undefined>;
  sites(): Promise<SiteRow[]>;
  registerSite(name: string, pub: string, udp: string | null, services: Omit<ServiceRow, 'site'>[], now: Date): Promise<void>; // replaces its services
  heartbeat(name: string, now: Date): Promise<void>;
  markOffline(olderThan: Date): Promise<string[]>;                 // sites whose heartbeat is older → offline
  setSiteStatus(name: string, status: SiteRow['status']): Promise<void>;
  // users and groups
  addUser(u: Omit<UserRow, 'createdAt' | 'status'>, now: Date): Promise<void>;
  user(name: string): Promise<UserRow | undefined>;
  users(site?: string): Promise<UserRow[]>;
  setUserStatus(name: string, status: UserRow['status']): Promise<void>;
  // services
  services(): Promise<ServiceRow[]>;
  service(name: string, site: string): Promise<ServiceRow | undefined>;
  // enrollment codes: secret stored only as sha256
  addCode(c: { id: string; secretHash: Buffer; scope: CodeScope; expiresAt: Date; createdBy: string }): Promise<void>;
  redeemCode(id: string, secretHash: Buffer, now: Date, place?: RedeemPlace): Promise<RedeemResult>;  // atomic: exactly one winner; a code for another place is not spent
  setCodeSerial(id: string, serial: string): Promise<void>;
  // certificates issued by HQ, revocation, CRL
  addCert(c: Omit<CertRow, 'revokedAt' | 'reason'>): Promise<void>;
  certsOf(role: string, name: string): Promise<CertRow[]>;
  revokeCerts(filter: { serial?: string; role?: string; name?: string }, reason: string, now: Date): Promise<CertRow[]>; // newly revoked
  revokedCerts(): Promise<CertRow[]>;
  liveCerts(now: Date): Promise<CertRow[]>; // neither revoked nor expired
  // kv for the org: the current CRL PEM, the trust bundle, the CA generation
  getSetting(key: string): Promise<string | undefined>;
  setSetting(key: string, value: string): Promise<void>;
  // sessions (relays) and events
  openSession(s: Omit<SessionRow, 'endedAt' | 'bytesIn' | 'bytesOut'> & { targetSite: string; expiresAt: Date; secretHash: Buffer }): Promise<void>;
  claimTicket(id: string, secretHash: Buffer, targetSite: string, now: Date): Promise<SessionRow | undefined>; // single use, atomic
  endSession(id: string, bytesIn: number, bytesOut: number, now: Date): Promise<void>;
  sessions(opts?: { open?: boolean; limit?: number }): Promise<SessionRow[]>;
  addEvent(e: OrgEvent, now: Date): Promise<void>;
  events(opts?: { limit?: number; kind?: string }): Promise<(OrgEvent & { at: Date })[]>;
  // change notices between processes on one database, at least once (a `changes` table; PG: NOTIFY insel_org; SQLite: polled every 200 ms)
  publish(change: { kind: string; subject: string }): Promise<void>;
  subscribe(fn: (change: { kind: string; subject: string }) => void): () => void;
}
