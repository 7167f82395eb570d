// CA rollover: a new root beside the old one, so that no connection fails
// while certificates move to it.
//
//   rolloverCa   creates root generation n+1 (ca-<n+1>.key, ca-<n+1>.crt;
//                CN "insel root CA <n+1>", same O). From then on it signs new
//                certificates; every root not retired still signs its own CRL
//                in crl.pem; ca.crt becomes the trust bundle of all of them,
//                oldest first, so every end that is handed ca.crt (profiles,
//                HQ's `trust` event) accepts certificates of both.
//   retireCa     drops a root (never the newest) from ca.crt and crl.pem: from
//                then on its certificates are refused (INSEL_CERT_UNKNOWN_CA).
//
// The procedure: roll over, hand the new ca.crt to every end, re-issue
// certificates as they renew (they get the new root), then retire the old root.
//
// Files are written so that an interrupted command leaves a usable directory:
// the new root's files first, then the bundle (oldest first, so a directory
// whose index has no generations yet still reads its signer from ca.crt's first
// certificate and ca.key), then the index, which makes the new root the signer,
// then crl.pem.
import { existsSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { checkDays, DEFAULT_DAYS, readCertFile, rootsOf, validityFor } from './ca.js';
import { certPem, createRootCert, keyIdOf, newKeyPair, privateKeyPem } from './certgen.js';
import { signCrls, type WriteCrlResult } from './crl.js';
import { PkiError } from './errors.js';
import { withPkiLock } from './lock.js';
import { normalizeSerial } from './serial.js';
import { KEY_MODE, pkiPaths, PUBLIC_MODE, readFile, readIndex, writeFileAtomic, writeIndex, type IndexRecord, type PkiPaths, type RootRecord } from './store.js';

export interface RolloverOptions {
  dir: string;
  /** validity of the new root, in days (default 3650) */
  days?: number;
  now?: Date;
}

export interface RolloverResult {
  /** the new root */
  root: RootRecord;
  /** every root generation now, oldest first */
  roots: RootRecord[];
  /** ca.crt: the trust bundle to hand to every end */
  bundle: string;
  crl: WriteCrlResult;
}

export interface RetireOptions {
  dir: string;
  /** the root to retire, by generation or by serial (hex) */
  generation?: number;
  serial?: string;
  now?: Date;
}

export interface RetireResult {
  root: RootRecord;
  roots: RootRecord[];
  bundle: string;
  /** still-valid certificates that chain to the retired root: refused from now on */
  refused: IndexRecord[];
  crl: WriteCrlResult;
}

/** Every root generation of the PKI in `dir`, oldest first (retired ones carry `retired`). */
export function listRoots(dir: string): RootRecord[] {
  const paths = pkiPaths(dir);
  return rootsOf(paths, readIndex(paths));
}

/** Creates the next root generation; it signs from now on, and ca.crt trusts it beside the others. */
export function rolloverCa(opts: RolloverOptions): Promise<RolloverResult> {
  const days = checkDays(opts.days ?? DEFAULT_DAYS.root);
  return withPkiLock(opts.dir, () => rollover(opts, days));
}

async function rollover(opts: RolloverOptions, days: number): Promise<RolloverResult> {
  const paths = pkiPaths(opts.dir);
  const index = readIndex(paths);
  const now = opts.now ?? new Date();
  const roots = rootsOf(paths, index);
  const generation = (roots[roots.length - 1] as RootRecord).generation + 1;
  for (const f of [paths.rootKey(generation), paths.rootCert(generation)]) {
    if (existsSync(f)) {
      throw new PkiError('INSEL_PKI_EXISTS', `${f} exists, but the index lists no root CA ${generation}: an earlier rollover was interrupted; remove ${paths.rootKey(generation)} and ${paths.rootCert(generation)} and run the rollover again`, { file: f });
    }
  }
  if (index.roots === undefined) {
    // ca.crt is about to become the bundle: generation 1's certificate gets its own file
    const { cert } = readCertFile(paths.caCert, 'root CA certificate', `create the PKI with insel pki init --dir ${paths.dir}`);
    writeFileAtomic(paths.rootCert(1), certPem(cert), { mode: PUBLIC_MODE, force: true });
  }

  const keys = await newKeyPair();
  const cert = await createRootCert(index.org, keys, validityFor(days, now), generation);
  writeFileAtomic(paths.rootKey(generation), await privateKeyPem(keys.privateKey), { mode: KEY_MODE, force: false });
  writeFileAtomic(paths.rootCert(generation), certPem(cert), { mode: PUBLIC_MODE, force: false });
  const root: RootRecord = {
    generation,
    serial: normalizeSerial(cert.serialNumber),
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    keyId: keyIdOf(cert.publicKey.rawData),
  };
  const next = [...roots, root];
  writeBundle(paths, next);
  index.roots = next;
  index.rootSerial = root.serial;
  writeIndex(paths, index);
  return { root, roots: next, bundle: paths.caCert, crl: await signCrls({ dir: opts.dir, now }) };
}

/** Drops a root from the trust bundle and crl.pem. Refuses the newest (it signs) and a retired one. */
export function retireCa(opts: RetireOptions): Promise<RetireResult> {
  return withPkiLock(opts.dir, () => retire(opts));
}

async function retire(opts: RetireOptions): Promise<RetireResult> {
  const paths = pkiPaths(opts.dir);
  const index = readIndex(paths);
  const now = opts.now ?? new Date();
  const roots = rootsOf(paths, index);
  const serial = opts.serial === undefined ? undefined : normalizeSerial(opts.serial);
  const root = roots.find((r) => r.generation === opts.generation || r.serial === serial);
  const known = roots.map((r) => `${r.generation} (serial ${r.serial}${r.retired ? ', retired' : ''})`).join(', ');
  if (root === undefined || (opts.generation === undefined) === (serial === undefined)) {
    const which = opts.generation !== undefined ? `generation ${opts.generation}` : `serial ${serial ?? '(none given)'}`;
    throw new PkiError('INSEL_PKI_NOT_FOUND', `there is no root CA ${which} in ${paths.dir} (give exactly one of generation or serial); its roots: ${known}`, { file: paths.index });
  }
  if (root === roots[roots.length - 1]) {
    throw new UsageError(`root CA ${root.generation} (serial ${root.serial}) is the newest: it signs new certificates and cannot be retired; roll over to a new root first`, { field: 'generation' });
  }
  if (root.retired !== undefined) throw new UsageError(`root CA ${root.generation} (serial ${root.serial}) was retired on ${root.retired} already`, { field: 'generation' });

  root.retired = now.toISOString();
  writeBundle(paths, roots);
  index.roots = roots;
  writeIndex(paths, index);
  return { root, roots, bundle: paths.caCert, refused: chainedTo(index.certs, root, now), crl: await signCrls({ dir: opts.dir, now }) };
}

/** ca.crt: the certificates of every root not retired, oldest first. */
function writeBundle(paths: PkiPaths, roots: readonly RootRecord[]): void {
  const pems = roots
    .filter((r) => r.retired === undefined)
    .map((r) => readFile(paths.rootCert(r.generation), `root CA ${r.generation} certificate`, `restore it from a backup of ${paths.dir}`));
  writeFileAtomic(paths.caCert, pems.join(''), { mode: PUBLIC_MODE, force: true });
}

/** Unrevoked, unexpired certificates signed by `root`, or by a site CA it signed. */
function chainedTo(certs: readonly IndexRecord[], root: RootRecord, now: Date): IndexRecord[] {
  const direct = certs.filter((r) => r.issuer === 'root' && r.issuerSerial === root.serial);
  const sites = new Set(direct.filter((r) => r.role === 'site').map((r) => r.serial));
  return certs.filter((r) => (direct.includes(r) || sites.has(r.issuerSerial)) && r.revoked === undefined && Date.parse(r.notAfter) >= now.getTime());
}
