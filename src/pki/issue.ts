// Issuing a certificate: by the root, or by a site CA (--ca SITE) for users
// and clients of that site, with only the groups the root lets that site
// grant (--grant, written into the site certificate). A site certificate is
// itself a CA; renewing a live site (--force) keeps its key, so the
// certificates it issued still chain to it and its CRL can still be signed.
// Only once every certificate of that key is revoked or expired does a
// re-issue get a new key. A renewal carries the grants given to it, not the
// old ones.
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { UsageError } from '../errors.js';
import { checkDays, DEFAULT_DAYS, isLiveCa, latest, loadRootSigner, loadSiteSigner, validityFor } from './ca.js';
import { certPem, createCert, keyIdOf, withinIssuer, keyPairFromPem, newKeyPair, privateKeyPem, type Signer } from './certgen.js';
import { PkiError } from './errors.js';
import { grantsOf, ungrantedGroup, ungrantedText } from './grants.js';
import { checkName, checkRole, type Identity, type Role } from './identity.js';
import { withPkiLock } from './lock.js';
import { normalizeSerial } from './serial.js';
import { ensureDir, existsError, KEY_MODE, pkiPaths, PRIVATE_DIR_MODE, PUBLIC_MODE, readFile, readIndex, writeFileAtomic, writeIndex, type IndexRecord, type PkiIndex, type PkiPaths } from './store.js';

export interface IssueOptions {
  dir: string;
  role: Role | string;
  name: string;
  /** the identity's site; with --ca it defaults to (and must equal) the CA's site; a site's is its own name */
  site?: string;
  groups?: string[];
  /** for a site CA: the groups it may grant to the certificates it issues */
  grants?: string[];
  /** DNS names / IPs the holder serves under, for standard TLS clients (servers, gateways) */
  hosts?: string[];
  days?: number;
  /** sign with this site CA instead of the root */
  ca?: string;
  /** exact dates, for tests and tools; the default is now (a few minutes back) to now + days */
  notBefore?: Date;
  notAfter?: Date;
  force?: boolean;
  now?: Date;
}

export interface IssueResult {
  record: IndexRecord;
  certFile: string;
  keyFile: string;
  /** true when a site renewal kept the site's CA key */
  keptKey: boolean;
  /** the certificate this one replaces, if it is still valid (it stays valid until revoked) */
  previous?: IndexRecord;
}

/** Site CAs issue only these roles, and only for their own site (verify.ts enforces the same). */
const SITE_ISSUABLE: readonly Role[] = ['user', 'client'];

function identityFor(opts: IssueOptions, org: string): Omit<Identity, 'serial'> {
  const role = checkRole(opts.role);
  const name = checkName(opts.name, 'name');
  const groups = [...new Set((opts.groups ?? []).map((g) => checkName(g, 'group')))];
  let site = opts.site === undefined ? undefined : checkName(opts.site, 'site');
  if (opts.ca !== undefined) {
    const ca = checkName(opts.ca, 'ca');
    if (!SITE_ISSUABLE.includes(role)) {
      throw new UsageError(`a site CA may only issue ${SITE_ISSUABLE.join(' and ')} certificates, not ${role}; issue ${role} certificates from the root (without --ca)`, { field: 'ca' });
    }
    if (site !== undefined && site !== ca) throw new UsageError(`--site ${site} conflicts with --ca ${ca}: a site CA issues certificates for its own site only`, { field: 'site' });
    site = ca;
  }
  if (role === 'site') {
    if (site !== undefined && site !== name) throw new UsageError(`a site certificate's site is its own name; drop --site ${site} or use --name ${site}`, { field: 'site' });
    site = name;
  }
  return { org, role, name, ...(site === undefined ? {} : { site }), groups };
}

function grantsFor(opts: IssueOptions, role: Role): string[] {
  const grants = [...new Set((opts.grants ?? []).map((g) => checkName(g, 'grant')))];
  if (grants.length > 0 && role !== 'site') {
    throw new UsageError(`--grant is for site certificates only (the groups a site CA may grant), not ${role}; use --group for the holder's own groups`, { field: 'grant' });
  }
  return grants;
}

/** Refuses to silently replace a certificate, or to turn a live one into another role. */
function checkReplace(paths: PkiPaths, index: PkiIndex, id: Omit<Identity, 'serial'>, force: boolean, now: Date): IndexRecord | undefined {
  const prev = latest(index, id.name);
  const live = prev && !prev.revoked && Date.parse(prev.notAfter) >= now.getTime() ? prev : undefined;
  if (live && live.role !== id.role) {
    throw new UsageError(`${id.name} already has a valid ${live.role} certificate (serial ${live.serial}); revoke it first (insel pki revoke ${id.name}) or choose another name`, { field: 'name' });
  }
  if (!force) {
    for (const f of [paths.cert(id.name), paths.key(id.name)]) if (existsSync(f)) throw existsError(f);
    if (live) {
      throw new PkiError('INSEL_PKI_EXISTS', `${paths.index} already lists a valid certificate named ${id.name} (serial ${live.serial}); pass --force to issue a new one`, { file: paths.index });
    }
  }
  return live;
}

/** For a site renewal: the existing CA key, if some certificate of that key is still a live CA. */
async function reusableSiteKey(paths: PkiPaths, index: PkiIndex, name: string, now: Date): Promise<CryptoKeyPair | undefined> {
  const file = paths.key(name);
  if (!existsSync(file)) return undefined;
  const keys = await keyPairFromPem(readFile(file, 'site CA key', ''), file);
  const keyId = keyIdOf(keys.spki);
  const live = index.certs.some((r) => r.name === name && r.keyId === keyId && isLiveCa(r, now));
  return live ? { privateKey: keys.privateKey, publicKey: keys.publicKey } : undefined;
}

export function issueCert(opts: IssueOptions): Promise<IssueResult> {
  return withPkiLock(opts.dir, () => issue(opts));
}

async function issue(opts: IssueOptions): Promise<IssueResult> {
  const paths = pkiPaths(opts.dir);
  const index = readIndex(paths);
  const id = identityFor(opts, index.org);
  const grants = grantsFor(opts, id.role);
  const days = checkDays(opts.days ?? (id.role === 'site' ? DEFAULT_DAYS.site : DEFAULT_DAYS.leaf));
  const now = opts.now ?? new Date();
  const force = opts.force === true;
  const previous = checkReplace(paths, index, id, force, now);

  let signer: Signer;
  let chain = '';
  if (opts.ca !== undefined) {
    const site = await loadSiteSigner(paths, index, opts.ca, now);
    signer = site.signer;
    // verify refuses such a certificate anyway; say so now, not at the first connection
    const siteGrants = grantsOf(signer.cert);
    const ungranted = ungrantedGroup(id.groups, siteGrants);
    if (ungranted !== undefined) throw new UsageError(`--group ${ungranted}: ${ungrantedText(ungranted, opts.ca, siteGrants)}`, { field: 'group' });
    chain = certPem(signer.cert);
  } else {
    signer = await loadRootSigner(paths, index);
  }

  const requested = validityFor(days, now);
  if (opts.notBefore) requested.notBefore = opts.notBefore;
  if (opts.notAfter) requested.notAfter = opts.notAfter;
  const validity = withinIssuer(requested, signer, id.name);

  const kept = id.role === 'site' ? await reusableSiteKey(paths, index, id.name, now) : undefined;
  const keys = kept ?? (await newKeyPair());
  const cert = await createCert(id, keys.publicKey, signer, validity, { hosts: checkHosts(opts.hosts ?? []), grants });

  const certFile = paths.cert(id.name);
  const keyFile = paths.key(id.name);
  ensureDir(paths.certsDir);
  ensureDir(paths.privateDir, PRIVATE_DIR_MODE);
  if (!kept) writeFileAtomic(keyFile, await privateKeyPem(keys.privateKey), { mode: KEY_MODE, force });
  writeFileAtomic(certFile, certPem(cert) + chain, { mode: PUBLIC_MODE, force });

  const record: IndexRecord = {
    name: id.name,
    role: id.role,
    ...(id.site === undefined ? {} : { site: id.site }),
    groups: id.groups,
    ...(grants.length === 0 ? {} : { grants }),
    serial: normalizeSerial(cert.serialNumber),
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    issuer: opts.ca ?? 'root',
    issuerSerial: normalizeSerial(signer.cert.serialNumber),
    keyId: keyIdOf(cert.publicKey.rawData),
  };
  index.certs.push(record);
  writeIndex(paths, index);
  return { record, certFile, keyFile, keptKey: kept !== undefined, ...(previous ? { previous } : {}) };
}

/** Host names and IPs for the SAN: a typo here would only show up as a TLS failure in some client later. */
function checkHosts(hosts: string[]): string[] {
  for (const h of hosts) {
    if (!isIP(h) && !/^(?=.{1,253}$)(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(h)) {
      throw new UsageError(`--host ${JSON.stringify(h)} is neither a DNS name nor an IP address`, { field: 'host' });
    }
  }
  return hosts;
}
