// What an insel end trusts: the root CA certificate(s) and the CRLs.
//
// Everything is parsed once, when the trust is loaded, so that verifyPeer
// (which runs inside a TLS callback) only compares bytes and checks
// signatures synchronously. A malformed file is refused here, naming it,
// rather than at the first connection.
//
// CRLs are not checked against a CA when loaded: a CRL may come from a site
// CA that is only known from a peer's chain. A CRL counts for a certificate
// only if it is signed by that certificate's issuer (see revocationOf).
// nextUpdate is enforced by clients, not here: a stale root CRL may miss
// revocations, so a client refuses to trust a server while its CRL is stale
// (staleRootCrl) unless told to accept it with a warning; it refreshes its
// CRL from the gateway first (crl-refresh.ts). Servers only warn about their
// own stale CRL: refusing every client when it ages would cut the network off.
import { readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import type { X509Certificate, X509Crl } from '@peculiar/x509';
import { PkiError } from './errors.js';
import { decodePem, encodePem } from './pem.js';
import { normalizeSerial } from './serial.js';
import { isSignedBy, publicKeyOf } from './signature.js';
import { toArrayBuffer, x509 } from './x509.js';

export interface TrustedCa {
  readonly cert: X509Certificate;
  /** DER of the subject name, for issuer matching */
  readonly subject: Buffer;
  readonly key: KeyObject;
  /** the O of the subject: identities under this root must carry this org */
  readonly org: string;
}

export interface Revocation {
  serial: string;
  at: Date;
  /** a CRL reason name (keyCompromise, superseded, …) */
  reason: string;
}

export interface TrustedCrl {
  readonly crl: X509Crl;
  /** DER of the issuer name */
  readonly issuer: Buffer;
  readonly revoked: ReadonlyMap<string, Revocation>;
  /** memo of signature checks: issuer public key (SPKI, base64) → signed by it */
  readonly checked: Map<string, boolean>;
}

export interface Trust {
  /** the root certificate(s), re-encoded: pass as node tls `ca` */
  readonly caPem: string;
  readonly roots: readonly TrustedCa[];
  readonly crls: readonly TrustedCrl[];
  /** where caPem and the CRLs came from, for messages */
  readonly sources: { ca: string; crl?: string };
}

export interface TrustSources {
  ca?: string;
  crl?: string;
}

/** The name of each X509CrlReason value, as used in index.json and messages. */
export const CRL_REASONS = [
  'unspecified',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'privilegeWithdrawn',
  'aACompromise',
] as const;
export type CrlReason = (typeof CRL_REASONS)[number];

function reasonName(code: number | undefined): string {
  return code === undefined ? 'unspecified' : (x509.X509CrlReason[code] ?? `reason ${code}`);
}

function bad(source: string, what: string, cause?: unknown): PkiError {
  const detail = cause instanceof Error ? `: ${cause.message}` : '';
  return new PkiError('INSEL_PKI_BAD_FILE', `${source}: ${what}${detail}; replace it with an intact copy (ca.crt / crl.pem from the PKI directory)`, {
    file: source,
    cause,
  });
}

/** Reads lazily parsed fields for their side effect: parsing them. */
function touch(..._fields: unknown[]): void {}

function parseRoot(der: Buffer, index: number, source: string): TrustedCa {
  const which = `certificate ${index + 1}`;
  let ca: TrustedCa;
  let isCa: boolean;
  try {
    const cert = new x509.X509Certificate(toArrayBuffer(der));
    const subject = Buffer.from(cert.subjectName.toArrayBuffer());
    const issuer = Buffer.from(cert.issuerName.toArrayBuffer());
    const key = publicKeyOf(cert.publicKey.rawData);
    const bc = cert.getExtension(x509.BasicConstraintsExtension);
    isCa = bc?.ca === true && subject.equals(issuer) && isSignedBy(cert, key);
    touch(cert.notBefore, cert.notAfter, cert.serialNumber); // fail here, not in verify, on a malformed field
    ca = { cert, subject, key, org: cert.subjectName.getField('O')[0] ?? '' };
  } catch (err) {
    throw bad(source, `${which} cannot be parsed`, err);
  }
  if (!isCa) throw bad(source, `${which} is not a self-signed CA certificate (use the PKI's ca.crt, not a leaf or site certificate)`);
  return ca;
}

function parseCrl(der: Buffer, index: number, source: string): TrustedCrl {
  try {
    const crl = new x509.X509Crl(toArrayBuffer(der));
    const revoked = new Map<string, Revocation>();
    for (const e of crl.entries) {
      const serial = normalizeSerial(e.serialNumber);
      revoked.set(serial, { serial, at: e.revocationDate, reason: reasonName(e.reason) });
    }
    touch(crl.signature, crl.signatureAlgorithm, crl.thisUpdate);
    return { crl, issuer: Buffer.from(crl.issuerName.toArrayBuffer()), revoked, checked: new Map() };
  } catch (err) {
    throw bad(source, `CRL ${index + 1} cannot be parsed`, err);
  }
}

/** Parses root CA certificate(s) and optional CRLs (PEM). Throws PkiError INSEL_PKI_BAD_FILE naming the source. */
export function trustFromPem(caPem: string, crlPem?: string, sources: TrustSources = {}): Trust {
  const caSource = sources.ca ?? 'CA certificate (identity.ca)';
  const crlSource = sources.crl ?? 'CRL (identity.crl)';
  if (typeof caPem !== 'string') throw bad(caSource, 'is not text');
  const ders = decodePem(caPem, 'CERTIFICATE', caSource);
  if (ders.length === 0) throw bad(caSource, 'contains no CERTIFICATE PEM block');
  const roots = ders.map((der, i) => parseRoot(der, i, caSource));

  const crls: TrustedCrl[] = [];
  if (crlPem !== undefined && crlPem.trim() !== '') {
    const crlDers = [...decodePem(crlPem, 'X509 CRL', crlSource), ...decodePem(crlPem, 'CRL', crlSource)];
    if (crlDers.length === 0) throw bad(crlSource, 'contains no X509 CRL PEM block');
    crlDers.forEach((der, i) => crls.push(parseCrl(der, i, crlSource)));
  }
  return {
    caPem: ders.map((d) => encodePem(d, 'CERTIFICATE')).join(''),
    roots,
    crls,
    sources: { ca: caSource, ...(crlPem === undefined ? {} : { crl: crlSource }) },
  };
}

function readText(file: string, what: string, hint: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new PkiError('INSEL_PKI_NOT_FOUND', `${what} ${file} does not exist; ${hint}`, { file, cause: err });
    throw new PkiError('INSEL_PKI_BAD_FILE', `cannot read ${what} ${file}: ${(err as Error).message}`, { file, cause: err });
  }
}

/** Reads and parses the CA file and, if given, the CRL file. */
export function loadTrust(opts: { caFile: string; crlFile?: string }): Trust {
  const caPem = readText(opts.caFile, 'CA certificate', 'copy ca.crt from the PKI directory (insel pki init creates it)');
  const crlPem = opts.crlFile === undefined ? undefined : readText(opts.crlFile, 'CRL', 'copy crl.pem from the PKI directory (insel pki crl writes it)');
  return trustFromPem(caPem, crlPem, { ca: opts.caFile, ...(opts.crlFile === undefined ? {} : { crl: opts.crlFile }) });
}

/**
 * The revocation of `serial` by the CA `issuer`, if a CRL signed by that CA lists it.
 * CRLs that name the issuer but are not signed by its key are ignored.
 */
export function revocationOf(trust: Trust, issuer: { subject: Buffer; key: KeyObject }, serial: string): Revocation | undefined {
  for (const crl of trust.crls) {
    const hit = signedBy(crl, issuer) ? crl.revoked.get(serial) : undefined;
    if (hit) return hit;
  }
  return undefined;
}

/** True if `crl` names `issuer` and is signed by its key; memoised per key, as verify runs inside TLS callbacks. */
function signedBy(crl: TrustedCrl, issuer: { subject: Buffer; key: KeyObject }): boolean {
  if (!crl.issuer.equals(issuer.subject)) return false;
  const spki = issuer.key.export({ format: 'der', type: 'spki' }).toString('base64');
  let ok = crl.checked.get(spki);
  if (ok === undefined) {
    ok = isSignedBy(crl.crl, issuer.key);
    crl.checked.set(spki, ok);
  }
  return ok;
}

export interface StaleCrl {
  /** the file (or source label) the CRL came from */
  source: string;
  thisUpdate: Date;
  nextUpdate: Date;
}

/**
 * The newest CRL signed by a trusted root, if it is past its nextUpdate.
 * Undefined when it is fresh, has no nextUpdate, or there is no root CRL at
 * all (then there is nothing to be stale: revocation is simply unknown).
 */
export function staleRootCrl(trust: Trust, now: Date): StaleCrl | undefined {
  let newest: X509Crl | undefined;
  for (const c of trust.crls) {
    if (!trust.roots.some((r) => signedBy(c, r))) continue;
    if (!newest || c.crl.thisUpdate.getTime() > newest.thisUpdate.getTime()) newest = c.crl;
  }
  const next = newest?.nextUpdate;
  if (!newest || !next || now.getTime() <= next.getTime()) return undefined;
  return { source: trust.sources.crl ?? 'CRL', thisUpdate: newest.thisUpdate, nextUpdate: next };
}


/** PkiError INSEL_CRL_STALE: which CRL, since when, and `fix` (how this end refreshes it or accepts it anyway). */
export function staleCrlError(stale: StaleCrl, now: Date, fix: string): PkiError {
  const day = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return new PkiError(
    'INSEL_CRL_STALE',
    `the CRL in ${stale.source} is stale: the root CA's CRL was issued ${day(stale.thisUpdate)} and due for renewal by ${day(stale.nextUpdate)} (now ${day(now)}), so it may miss revocations since; ${fix}`,
    { file: stale.source },
  );
}
