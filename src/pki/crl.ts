// Revocation: marking certificates revoked in the index, and writing
// crl.pem, a bundle of one CRL per live CA: the root's (after a rollover, one
// per root generation not retired, oldest first), then each site CA's,
// each listing the revoked serials that CA's key signed. Each site CRL is
// preceded by the site CA's certificate, so that a client refreshing its
// CRLs from a gateway can check the site CRL chains to the root. A site CA whose
// every certificate is revoked or expired gets no CRL: verify refuses all it
// issued anyway, through the site CA's own revocation or dates.
import { existsSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { CRL_DAYS, isLiveCa, liveRootSigners, readCertFile } from './ca.js';
import { certPem, createCrl, crlPem, keyIdOf, keyPairFromPem, type CrlEntry, type Signer } from './certgen.js';
import { PkiError } from './errors.js';
import { withPkiLock } from './lock.js';
import { isSerialLike, normalizeSerial } from './serial.js';
import { pkiPaths, PUBLIC_MODE, readFile, readIndex, writeFileAtomic, writeIndex, type IndexRecord, type PkiIndex, type PkiPaths } from './store.js';
import { CRL_REASONS, type CrlReason } from './trust.js';
import { x509 } from './x509.js';

const DAY_MS = 24 * 60 * 60 * 1000;

export interface WriteCrlResult {
  file: string;
  /** one per CRL written, in bundle order; ca is "root" or a site name; generation only once the root was rolled over */
  crls: { ca: string; revoked: number; generation?: number }[];
  /** site CAs that should have a CRL but could not sign one, and why */
  skipped: { site: string; why: string }[];
}

function entriesOf(records: readonly IndexRecord[]): CrlEntry[] {
  return records.map((r) => ({ serial: r.serial, at: new Date(r.revoked!.at), reason: x509.X509CrlReason[r.revoked!.reason] }));
}

/** A certificate a root revoked, wherever revocations are kept (index.json, HQ's registry). */
export interface RootRevocation {
  serial: string;
  at: Date;
  reason: CrlReason;
  /** the serial of the root that signed the certificate: only that root's CRL lists it */
  issuerSerial: string;
}

export interface RootCrl {
  generation: number;
  /** the root's serial */
  serial: string;
  pem: string;
  revoked: number;
}

/** One CRL per live root (oldest first), each listing the revocations of the certificates it signed. */
export async function rootCrls(paths: PkiPaths, index: PkiIndex, revoked: readonly RootRevocation[], now: Date): Promise<RootCrl[]> {
  const validity = { thisUpdate: now, nextUpdate: new Date(now.getTime() + CRL_DAYS * DAY_MS) };
  const out: RootCrl[] = [];
  // Each root signs its own CRL: a certificate counts as revoked only by a CRL of its issuer (trust.ts).
  for (const root of await liveRootSigners(paths, index)) {
    const mine = revoked.filter((r) => r.issuerSerial === root.serial);
    const entries = mine.map((r) => ({ serial: r.serial, at: r.at, reason: x509.X509CrlReason[r.reason] }));
    out.push({ generation: root.generation, serial: root.serial, pem: crlPem(await createCrl(root.signer, entries, validity)), revoked: mine.length });
  }
  return out;
}

/**
 * The root CRLs of the PKI in `dir` as one PEM bundle, for a CA that keeps
 * its revocations elsewhere (HQ's registry): what crl.pem holds for the roots.
 */
export async function rootCrlsPem(opts: { dir: string; revoked: readonly RootRevocation[]; now?: Date }): Promise<string> {
  const paths = pkiPaths(opts.dir);
  const crls = await rootCrls(paths, readIndex(paths), opts.revoked, opts.now ?? new Date());
  return crls.map((c) => c.pem).join('');
}

/** The key id of the CA certificate that signed `r`, from the index. */
function issuerKeyId(index: PkiIndex, r: IndexRecord): string | undefined {
  return index.certs.find((c) => c.serial === r.issuerSerial)?.keyId;
}

async function siteSigner(paths: PkiPaths, index: PkiIndex, site: string, now: Date): Promise<{ signer: Signer; keyId: string } | { why: string }> {
  const keyFile = paths.key(site);
  if (!existsSync(keyFile)) return { why: `its key ${keyFile} is missing` };
  const keys = await keyPairFromPem(readFile(keyFile, 'site CA key', ''), keyFile);
  const keyId = keyIdOf(keys.spki);
  if (!index.certs.some((r) => r.name === site && r.keyId === keyId && isLiveCa(r, now))) return { why: 'no live site certificate has its current key' };
  const { cert } = readCertFile(paths.cert(site), `site CA ${site} certificate`, `re-issue it with insel pki issue --role site --name ${site} --force`);
  if (keyIdOf(cert.publicKey.rawData) !== keyId) return { why: `${paths.cert(site)} does not match ${keyFile}` };
  return { signer: { cert, privateKey: keys.privateKey }, keyId };
}

/** Re-signs every live CA's CRL and writes crl.pem. */
export function writeCrl(opts: { dir: string; now?: Date }): Promise<WriteCrlResult> {
  return withPkiLock(opts.dir, () => signCrls(opts));
}

/** writeCrl for a caller that holds the directory's lock already. */
export async function signCrls(opts: { dir: string; now?: Date }): Promise<WriteCrlResult> {
  const paths = pkiPaths(opts.dir);
  const index = readIndex(paths);
  const now = opts.now ?? new Date();
  const validity = { thisUpdate: now, nextUpdate: new Date(now.getTime() + CRL_DAYS * DAY_MS) };
  const revoked = index.certs.filter((r) => r.revoked !== undefined);

  const byRoots = revoked.filter((r) => r.issuer === 'root').map((r) => ({ serial: r.serial, at: new Date(r.revoked!.at), reason: r.revoked!.reason, issuerSerial: r.issuerSerial }));
  const roots = await rootCrls(paths, index, byRoots, now);
  const pems = roots.map((c) => c.pem);
  const result: WriteCrlResult = {
    file: paths.crl,
    crls: roots.map((c) => ({ ca: 'root', revoked: c.revoked, ...(index.roots === undefined ? {} : { generation: c.generation }) })),
    skipped: [],
  };

  const sites = [...new Set(index.certs.filter((r) => isLiveCa(r, now)).map((r) => r.name))].sort();
  for (const site of sites) {
    const s = await siteSigner(paths, index, site, now);
    if ('why' in s) {
      result.skipped.push({ site, why: s.why });
      continue;
    }
    const entries = revoked.filter((r) => r.issuer === site && issuerKeyId(index, r) === s.keyId);
    pems.push(certPem(s.signer.cert) + crlPem(await createCrl(s.signer, entriesOf(entries), validity)));
    result.crls.push({ ca: site, revoked: entries.length });
  }
  writeFileAtomic(paths.crl, pems.join(''), { mode: PUBLIC_MODE, force: true });
  return result;
}

export interface RevokeOptions {
  dir: string;
  /** a certificate name (all its unrevoked certificates) or a serial (hex) */
  nameOrSerial: string;
  reason?: string;
  now?: Date;
}

export interface RevokeResult {
  revoked: IndexRecord[];
  /** matching certificates that were revoked before */
  already: IndexRecord[];
  /** still-valid certificates issued by a site CA revoked now: verify refuses them from now on */
  dependents: IndexRecord[];
  crl: WriteCrlResult;
}

export function checkReason(reason: string): CrlReason {
  if (!(CRL_REASONS as readonly string[]).includes(reason)) {
    throw new UsageError(`reason ${JSON.stringify(reason)} is unknown: use one of ${CRL_REASONS.join(', ')}`, { field: 'reason' });
  }
  return reason as CrlReason;
}

/** Revokes by name or serial, then rewrites crl.pem. */
export function revoke(opts: RevokeOptions): Promise<RevokeResult> {
  return withPkiLock(opts.dir, () => revokeLocked(opts));
}

async function revokeLocked(opts: RevokeOptions): Promise<RevokeResult> {
  const reason = checkReason(opts.reason ?? 'unspecified');
  const paths = pkiPaths(opts.dir);
  const index = readIndex(paths);
  const now = opts.now ?? new Date();
  let matches = index.certs.filter((r) => r.name === opts.nameOrSerial);
  if (matches.length === 0 && isSerialLike(opts.nameOrSerial)) {
    const serial = normalizeSerial(opts.nameOrSerial);
    matches = index.certs.filter((r) => r.serial === serial);
  }
  if (matches.length === 0) {
    throw new PkiError('INSEL_PKI_NOT_FOUND', `no certificate named or with serial ${JSON.stringify(opts.nameOrSerial)} in ${paths.index}; see insel pki list --dir ${paths.dir}`, {
      file: paths.index,
    });
  }
  const fresh = matches.filter((r) => r.revoked === undefined);
  for (const r of fresh) r.revoked = { at: now.toISOString(), reason };
  writeIndex(paths, index);

  // Certificates of a revoked site CA die with it, unless a renewal of that CA (same key) is still live.
  const revokedSites = new Set(fresh.filter((r) => r.role === 'site').map((r) => r.name));
  const liveKeys = new Set(index.certs.filter((r) => isLiveCa(r, now)).map((r) => r.keyId));
  const dependents = index.certs.filter(
    (r) => r.revoked === undefined && revokedSites.has(r.issuer) && !liveKeys.has(issuerKeyId(index, r) ?? '') && Date.parse(r.notAfter) >= now.getTime(),
  );
  return { revoked: fresh, already: matches.filter((r) => !fresh.includes(r)), dependents, crl: await signCrls({ dir: opts.dir, now }) };
}
