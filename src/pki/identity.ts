// Who a certificate speaks for, in a form machines can read back.
//
// The identity travels in the certificate as one subjectAltName URI:
//
//   insel://<org>/<role>/<name>?site=<site>&group=<g1>&group=<g2>
//
// - every component is percent-encoded with encodeURIComponent;
// - `?site=` is present only when the identity has a site, each `group=`
//   once per group in the order given; with neither there is no `?` at all;
// - exactly one spelling is valid: parseIdentityUri re-encodes what it read
//   and refuses anything that differs, so equal identities have equal URIs.
//
// The subject repeats it for humans and for tools that only show the DN:
// CN=<name>, O=<org>, OU=<role>.
import { UsageError } from '../errors.js';

export type Role = 'hq' | 'site' | 'user' | 'server' | 'client';
export const ROLES: readonly Role[] = ['hq', 'site', 'user', 'server', 'client'];

export interface Identity {
  org: string;
  role: Role;
  name: string;
  site?: string;
  groups: string[];
  /** the certificate serial, lowercase hex without leading zeros */
  serial: string;
  /**
   * the site CA that signed the certificate, as verify found it on the path
   * (absent when the root signed it): a site's alice is not the root's alice
   */
  issuer?: string;
}

const SCHEME = 'insel://';
/** names, sites and groups are also file names (certs/<name>.crt), hence the narrow set */
const NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
/** an org is free text for humans, but control characters and lone surrogates break logs and URIs */
const ORG_FORBIDDEN = /[\p{Cc}\p{Cs}]/u;
const ORG_MAX = 64;

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

export function isValidName(value: string): boolean {
  return NAME_PATTERN.test(value);
}

export function isValidOrg(value: string): boolean {
  return value.length >= 1 && value.length <= ORG_MAX && !ORG_FORBIDDEN.test(value);
}

/** Returns `value` if it is a valid name, else throws a UsageError naming `field`. */
export function checkName(value: string, field: string): string {
  if (!isValidName(value)) {
    throw new UsageError(`${field} ${JSON.stringify(value)} is not a valid name: use 1-64 characters of A-Z a-z 0-9 . _ -`, { field });
  }
  return value;
}

export function checkOrg(value: string, field = 'org'): string {
  if (!isValidOrg(value)) {
    throw new UsageError(`${field} ${JSON.stringify(value)} is not valid: use 1-${ORG_MAX} characters without control characters`, { field });
  }
  return value;
}

export function checkRole(value: string, field = 'role'): Role {
  if (!isRole(value)) {
    throw new UsageError(`${field} ${JSON.stringify(value)} is unknown: use one of ${ROLES.join(', ')}`, { field });
  }
  return value;
}

/** "alice" for the root's alice, "alice@branch" for the alice site CA branch issued: how logs and policy tell them apart. */
export function scopedName(id: Pick<Identity, 'name' | 'issuer'>): string {
  return id.issuer === undefined ? id.name : `${id.name}@${id.issuer}`;
}

/** Throws a UsageError naming the first invalid field. */
function checkIdentity(id: Omit<Identity, 'serial'>): void {
  checkOrg(id.org);
  checkRole(id.role);
  checkName(id.name, 'name');
  if (id.site !== undefined) checkName(id.site, 'site');
  for (const g of id.groups) checkName(g, 'group');
}

export function encodeIdentityUri(id: Omit<Identity, 'serial'>): string {
  checkIdentity(id);
  const params = [
    ...(id.site === undefined ? [] : [`site=${encodeURIComponent(id.site)}`]),
    ...id.groups.map((g) => `group=${encodeURIComponent(g)}`),
  ];
  const path = [id.org, id.role, id.name].map(encodeURIComponent).join('/');
  return SCHEME + path + (params.length > 0 ? `?${params.join('&')}` : '');
}

function decode(component: string): string | undefined {
  try {
    return decodeURIComponent(component);
  } catch {
    return undefined; // malformed percent-encoding
  }
}

/** The identity in an insel URI, or undefined if `uri` is not a valid, canonical one. Never throws. */
export function parseIdentityUri(uri: string): Omit<Identity, 'serial'> | undefined {
  if (typeof uri !== 'string' || !uri.startsWith(SCHEME)) return undefined;
  const [path = '', query, ...extra] = uri.slice(SCHEME.length).split('?');
  if (extra.length > 0) return undefined;
  const [org, role, name, ...more] = path.split('/').map(decode);
  if (more.length > 0 || org === undefined || role === undefined || name === undefined) return undefined;
  if (!isValidOrg(org) || !isRole(role) || !isValidName(name)) return undefined;

  let site: string | undefined;
  const groups: string[] = [];
  for (const pair of query === undefined ? [] : query.split('&')) {
    const eq = pair.indexOf('=');
    const value = decode(pair.slice(eq + 1));
    if (eq < 0 || value === undefined || !isValidName(value)) return undefined;
    const key = pair.slice(0, eq);
    if (key === 'site' && site === undefined) site = value;
    else if (key === 'group') groups.push(value);
    else return undefined;
  }
  const id = { org, role, name, ...(site === undefined ? {} : { site }), groups };
  // Refuse non-canonical spellings (order, case of %XX, needless escapes).
  return encodeIdentityUri(id) === uri ? id : undefined;
}
