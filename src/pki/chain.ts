// Certificates as verify.ts reads them, and the path from a peer's leaf to a
// trusted root. Synchronous: parsing is, and signatures go through
// signature.ts.
//
// insel paths are short by design: leaf -> root, or leaf -> site CA -> root
// (site CAs carry pathLen 0). A longer path is refused as an unknown CA.
import type { KeyObject } from 'node:crypto';
import type { X509Certificate } from '@peculiar/x509';
import { grantsOf } from './grants.js';
import { parseIdentityUri, type Identity } from './identity.js';
import { normalizeSerial } from './serial.js';
import { isSignedBy, publicKeyOf } from './signature.js';
import type { Trust, TrustedCa } from './trust.js';
import { toArrayBuffer, x509 } from './x509.js';

export interface ParsedCert {
  readonly cert: X509Certificate;
  readonly subject: Buffer;
  readonly issuer: Buffer;
  /** undefined if the key cannot be read (then nothing verifies against it) */
  readonly key: KeyObject | undefined;
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly isCa: boolean;
  /** true if keyUsage allows keyCertSign, or there is no keyUsage */
  readonly mayCertSign: boolean;
  readonly identity: Omit<Identity, 'serial'> | undefined;
  /** why identity is undefined */
  readonly identityProblem: string | undefined;
  /** groups a site CA may grant (grants.ts): [] without the extension, undefined if it is malformed */
  readonly grants: readonly string[] | undefined;
}

/** A parsed certificate, or undefined if `der` is not one. Never throws. */
export function parseCert(der: Uint8Array): ParsedCert | undefined {
  try {
    const cert = new x509.X509Certificate(toArrayBuffer(der));
    let key: KeyObject | undefined;
    try {
      key = publicKeyOf(cert.publicKey.rawData);
    } catch {
      key = undefined;
    }
    const bc = cert.getExtension(x509.BasicConstraintsExtension);
    const ku = cert.getExtension(x509.KeyUsagesExtension);
    const { identity, problem } = identityOf(cert);
    return {
      cert,
      subject: Buffer.from(cert.subjectName.toArrayBuffer()),
      issuer: Buffer.from(cert.issuerName.toArrayBuffer()),
      key,
      serial: normalizeSerial(cert.serialNumber),
      isCa: bc?.ca === true,
      mayCertSign: ku === null || (ku.usages & x509.KeyUsageFlags.keyCertSign) !== 0,
      identity,
      identityProblem: problem,
      grants: grantsOf(cert),
      notBefore: cert.notBefore,
      notAfter: cert.notAfter,
    };
  } catch {
    return undefined;
  }
}

function identityOf(cert: X509Certificate): { identity?: Omit<Identity, 'serial'>; problem?: string } {
  let uris: string[];
  try {
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
    uris = (san?.names.items ?? []).filter((n) => n.type === 'url' && n.value.startsWith('insel:')).map((n) => n.value);
  } catch {
    return { problem: 'its subjectAltName cannot be parsed' };
  }
  if (uris.length === 0) return { problem: 'it carries no insel identity (a subjectAltName URI insel://org/role/name)' };
  if (uris.length > 1) return { problem: 'it carries more than one insel identity URI' };
  const identity = parseIdentityUri(uris[0] as string);
  return identity ? { identity } : { problem: `its identity URI ${quote(uris[0] as string)} is not a valid, canonical insel URI` };
}

/** Peer-controlled text, made safe for one log line. */
export function quote(text: string, max = 160): string {
  const q = JSON.stringify(text);
  return q.length > max ? `${q.slice(0, max)}…"` : q;
}

/** "certificate of user alice", or by subject DN when the certificate has no readable identity. */
export function describe(c: ParsedCert): string {
  return c.identity ? `certificate of ${c.identity.role} ${c.identity.name}` : `certificate with subject ${quote(c.cert.subject)}`;
}

export type PathResult =
  | { ok: true; path: ParsedCert[]; root: TrustedCa }
  | { ok: false; /** the cert whose issuer was not found */ stuck: ParsedCert; /** a root has the issuer's name but not its key */ sameName: boolean };

/**
 * Builds leaf -> [site CA] -> root from `leaf` and the peer-supplied `pool`,
 * checking each signature. Pool certificates that do not fit are ignored.
 */
export function buildPath(leaf: ParsedCert, pool: readonly ParsedCert[], trust: Trust): PathResult {
  const path = [leaf];
  for (;;) {
    const cur = path[path.length - 1] as ParsedCert;
    const root = trust.roots.find((r) => r.subject.equals(cur.issuer) && isSignedBy(cur.cert, r.key));
    if (root) return { ok: true, path, root };
    const next =
      path.length < 2
        ? pool.find((c) => !path.includes(c) && c.key !== undefined && c.subject.equals(cur.issuer) && isSignedBy(cur.cert, c.key))
        : undefined;
    if (!next) return { ok: false, stuck: cur, sameName: trust.roots.some((r) => r.subject.equals(cur.issuer)) };
    path.push(next);
  }
}
