// The CAs of a PKI directory: creating the root (initCa), and loading the
// root or a site CA to sign with. After a CA rollover (rollover.ts) there are
// several root generations: the newest signs certificates, each live one
// signs its own CRL.
import { createPublicKey } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { X509Certificate } from '@peculiar/x509';
import { UsageError } from '../errors.js';
import { certPem, createCrl, crlPem, createRootCert, keyIdOf, keyPairFromPem, newKeyPair, privateKeyPem, type Signer, type Validity } from './certgen.js';
import { PkiError } from './errors.js';
import { checkOrg } from './identity.js';
import { withPkiLock } from './lock.js';
import { decodePem } from './pem.js';
import { normalizeSerial } from './serial.js';
import {
  ensureDir,
  existsError,
  KEY_MODE,
  pkiPaths,
  PRIVATE_DIR_MODE,
  PUBLIC_MODE,
  readFile,
  readIndex,
  writeFileAtomic,
  writeIndex,
  type IndexRecord,
  type PkiIndex,
  type PkiPaths,
  type RootRecord,
} from './store.js';
import { toArrayBuffer, x509 } from './x509.js';

export const DEFAULT_DAYS = { root: 3650, site: 1825, leaf: 365 } as const;
/** CRLs are re-signed on every revoke and `insel pki crl`; verify does not enforce this date (see trust.ts). */
export const CRL_DAYS = 365;
/** notBefore is set this far back, so that a peer whose clock is a little behind accepts a fresh certificate. */
const BACKDATE_MS = 5 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

/** Checks a --days value: a whole number of days from 1 to 100 years. */
export function checkDays(days: number, field = 'days'): number {
  if (!Number.isInteger(days) || days < 1 || days > 36500) {
    throw new UsageError(`${field} ${days} is not valid: use a whole number of days from 1 to 36500`, { field });
  }
  return days;
}

export function validityFor(days: number, now: Date): Validity {
  return { notBefore: new Date(now.getTime() - BACKDATE_MS), notAfter: new Date(now.getTime() + days * DAY_MS) };
}

export interface InitCaOptions {
  dir: string;
  org: string;
  force?: boolean;
  days?: number;
  now?: Date;
}

export interface InitCaResult {
  paths: PkiPaths;
  serial: string;
  notAfter: Date;
}

/** Creates the root CA, an empty index and an empty CRL in `dir`. */
export async function initCa(opts: InitCaOptions): Promise<InitCaResult> {
  const org = checkOrg(opts.org);
  const days = checkDays(opts.days ?? DEFAULT_DAYS.root);
  ensureDir(opts.dir);
  return withPkiLock(opts.dir, () => createRoot(opts, org, days));
}

async function createRoot(opts: InitCaOptions, org: string, days: number): Promise<InitCaResult> {
  const paths = pkiPaths(opts.dir);
  const force = opts.force === true;
  if (!force) {
    for (const f of [paths.caKey, paths.caCert, paths.index, paths.crl]) if (existsSync(f)) throw existsError(f);
  }
  ensureDir(paths.certsDir);
  ensureDir(paths.privateDir, PRIVATE_DIR_MODE);

  const now = opts.now ?? new Date();
  const keys = await newKeyPair();
  const cert = await createRootCert(org, keys, validityFor(days, now));
  const root: Signer = { cert, privateKey: keys.privateKey };
  const crl = await createCrl(root, [], { thisUpdate: now, nextUpdate: new Date(now.getTime() + CRL_DAYS * DAY_MS) });

  writeFileAtomic(paths.caKey, await privateKeyPem(keys.privateKey), { mode: KEY_MODE, force });
  writeFileAtomic(paths.caCert, certPem(cert), { mode: PUBLIC_MODE, force });
  writeFileAtomic(paths.crl, crlPem(crl), { mode: PUBLIC_MODE, force });
  const index: PkiIndex = { version: 1, org, rootSerial: normalizeSerial(cert.serialNumber), certs: [] };
  writeIndex(paths, index);
  return { paths, serial: index.rootSerial, notAfter: cert.notAfter };
}

/** The first certificate of a PEM file, or PkiError naming it. */
export function readCertFile(file: string, what: string, hint: string): { cert: X509Certificate; pem: string } {
  const pem = readFile(file, what, hint);
  const [der] = decodePem(pem, 'CERTIFICATE', file);
  if (!der) throw new PkiError('INSEL_PKI_BAD_FILE', `${file} contains no CERTIFICATE PEM block; restore it from a backup`, { file });
  try {
    return { cert: new x509.X509Certificate(toArrayBuffer(der)), pem };
  } catch (err) {
    throw new PkiError('INSEL_PKI_BAD_FILE', `${file}: the certificate cannot be parsed (${(err as Error).message}); restore it from a backup`, { file, cause: err });
  }
}

/** Throws PkiError BAD_FILE unless the key in `keyFile` belongs to `cert`. */
export function checkKeyMatches(cert: X509Certificate, keyPem: string, keyFile: string, certFile: string): void {
  let same = false;
  try {
    const spki = createPublicKey(keyPem).export({ format: 'der', type: 'spki' });
    same = Buffer.from(cert.publicKey.rawData).equals(spki);
  } catch (err) {
    throw new PkiError('INSEL_PKI_BAD_FILE', `${keyFile}: not a usable private key (${(err as Error).message})`, { file: keyFile, cause: err });
  }
  if (!same) {
    throw new PkiError('INSEL_PKI_BAD_FILE', `${keyFile} does not belong to the certificate in ${certFile}; re-issue the certificate (insel pki issue --force)`, {
      file: keyFile,
    });
  }
}

async function loadSigner(certFile: string, keyFile: string, what: string, hint: string): Promise<Signer> {
  const { cert } = readCertFile(certFile, `${what} certificate`, hint);
  const keyPem = readFile(keyFile, `${what} key`, hint);
  checkKeyMatches(cert, keyPem, keyFile, certFile);
  const { privateKey } = await keyPairFromPem(keyPem, keyFile);
  return { cert, privateKey };
}

/**
 * The root generations, oldest first (retired ones included). A directory
 * never rolled over has generation 1 only, read from ca.crt.
 */
export function rootsOf(paths: PkiPaths, index: PkiIndex): RootRecord[] {
  if (index.roots !== undefined) return index.roots;
  const { cert } = readCertFile(paths.caCert, 'root CA certificate', `create the PKI with insel pki init --dir ${paths.dir}`);
  return [{ generation: 1, serial: normalizeSerial(cert.serialNumber), notBefore: cert.notBefore.toISOString(), notAfter: cert.notAfter.toISOString(), keyId: keyIdOf(cert.publicKey.rawData) }];
}

/** Root generation `root` as it can sign; its certificate must be the one the index lists. */
async function loadRoot(paths: PkiPaths, index: PkiIndex, root: RootRecord): Promise<Signer> {
  const certFile = index.roots === undefined ? paths.caCert : paths.rootCert(root.generation);
  const signer = await loadSigner(certFile, paths.rootKey(root.generation), `root CA ${root.generation}`, `restore the PKI directory ${paths.dir} from a backup`);
  const serial = normalizeSerial(signer.cert.serialNumber);
  if (serial !== root.serial) {
    throw new PkiError('INSEL_PKI_BAD_FILE', `${certFile} holds serial ${serial}, but the index says root CA ${root.generation} is serial ${root.serial}; restore it from a backup`, { file: certFile });
  }
  return signer;
}

export interface RootSigner {
  generation: number;
  serial: string;
  signer: Signer;
}

/** Every root not retired, oldest first, ready to sign (its own CRL). */
export function liveRootSigners(paths: PkiPaths, index: PkiIndex = readIndex(paths)): Promise<RootSigner[]> {
  const live = rootsOf(paths, index).filter((r) => r.retired === undefined);
  return Promise.all(live.map(async (r) => ({ generation: r.generation, serial: r.serial, signer: await loadRoot(paths, index, r) })));
}

/** The newest root: the one that signs new certificates. */
export function loadRootSigner(paths: PkiPaths, index: PkiIndex = readIndex(paths)): Promise<Signer> {
  const roots = rootsOf(paths, index);
  return loadRoot(paths, index, roots[roots.length - 1] as RootRecord);
}

/** The newest certificate named `name`, if any. */
export function latest(index: PkiIndex, name: string): IndexRecord | undefined {
  return index.certs.filter((r) => r.name === name).pop();
}

/** A site record that can still sign: not revoked, within its dates. */
export function isLiveCa(r: IndexRecord, now: Date): boolean {
  return r.role === 'site' && r.revoked === undefined && Date.parse(r.notAfter) >= now.getTime() && Date.parse(r.notBefore) <= now.getTime();
}

/** The site CA `site` as it can sign now, with its index record. */
export async function loadSiteSigner(paths: PkiPaths, index: PkiIndex, site: string, now: Date): Promise<{ signer: Signer; record: IndexRecord }> {
  const record = latest(index, site);
  if (record?.role !== 'site') {
    throw new PkiError('INSEL_PKI_NOT_FOUND', `there is no site CA named ${site} in ${paths.dir}; create it with insel pki issue --role site --name ${site}`, { field: 'ca' });
  }
  if (!isLiveCa(record, now)) {
    const why = record.revoked ? `was revoked on ${record.revoked.at}` : `is valid only from ${record.notBefore} to ${record.notAfter}`;
    throw new UsageError(`site CA ${site} ${why}, so it cannot sign; renew it with insel pki issue --role site --name ${site} --force`, { field: 'ca' });
  }
  const signer = await loadSigner(paths.cert(site), paths.key(site), `site CA ${site}`, `re-issue the site with insel pki issue --role site --name ${site} --force`);
  if (normalizeSerial(signer.cert.serialNumber) !== record.serial) {
    throw new PkiError('INSEL_PKI_BAD_FILE', `${paths.cert(site)} holds serial ${normalizeSerial(signer.cert.serialNumber)}, but the index says site ${site} is serial ${record.serial}; restore the file or re-issue the site`, { file: paths.cert(site) });
  }
  return { signer, record };
}
