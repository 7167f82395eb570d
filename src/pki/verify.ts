// Is this peer one of ours, and who is it? Both TLS ends call verifyPeer
// right after the handshake (TLS runs with rejectUnauthorized: false, so
// that we, not OpenSSL, decide and can say why). The checks, in order; the
// first that fails is the one reported, as exactly one CertError code:
//
//   1. a certificate at all ............................ INSEL_CERT_MISSING
//   2. a path leaf -> [site CA] -> trusted root ......... INSEL_CERT_UNKNOWN_CA
//      (signatures checked here, not taken from OpenSSL)
//   3. every certificate on the path within its dates .. INSEL_CERT_EXPIRED / _NOT_YET_VALID
//   4. leaf and site CA not on a CRL of their issuer ... INSEL_CERT_REVOKED
//   5. an insel identity in the leaf, of the root's org  INSEL_CERT_INVALID
//   6. a site CA issued only user/client certs for its
//      own site, with groups the root lets it grant .... INSEL_CERT_WRONG_ROLE / _INVALID
//   7. the role is one this end accepts ................ INSEL_CERT_WRONG_ROLE
//   8. OpenSSL's own verdict (authorizationError), mapped to a code, in case
//      it saw something the checks above do not cover.
//
// A site CA's certificates are scoped to it: the identity returned carries
// `issuer` (the site CA's name, from the verified path), so that policy tells
// the site's alice from the root's.
//
// Messages say which check failed, whose certificate (name and peer
// address) and what to do, so one log line is enough to act on.
import type { KeyObject } from 'node:crypto';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import { CertError, PkiError, type CertErrorCode } from './errors.js';
import { buildPath, describe, parseCert, quote, type ParsedCert } from './chain.js';
import type { Identity, Role } from './identity.js';
import { ungrantedGroup, ungrantedText } from './grants.js';
import { decodePem } from './pem.js';
import { revocationOf, type Revocation, type Trust } from './trust.js';

/** Roles a site CA may issue: people and devices of its own site, never infrastructure. */
const SITE_ISSUABLE: readonly Role[] = ['user', 'client'];
/** A peer sending more certificates than this is not sending an insel chain. */
const MAX_CHAIN = 8;

/** Verifies the peer of a finished TLS handshake and returns its identity. Throws CertError. */
export function verifyPeer(socket: TLSSocket, trust: Trust, roles: readonly Role[], peer?: string): Identity {
  const label = peer ?? `${socket.remoteAddress}:${socket.remotePort}`;
  const leaf = socket.getPeerCertificate(true) as DetailedPeerCertificate | null | undefined;
  if (!leaf?.raw) {
    throw new CertError('INSEL_CERT_MISSING', `peer ${label} presented no certificate; every insel end needs one: configure its cert and key (insel pki issue)`, {
      peer: label,
    });
  }
  const identity = checkChain(chainOf(leaf), trust, roles, new Date(), label);
  const tlsError = tlsErrorCode(socket.authorizationError as unknown);
  if (tlsError !== undefined) throw fromTlsError(tlsError, identity, label);
  return identity;
}

/** The peer's certificates (DER, leaf first) as the TLS handshake delivered them; empty if it sent none. */
export function peerChain(socket: TLSSocket): Buffer[] {
  const leaf = socket.getPeerCertificate(true) as DetailedPeerCertificate | null | undefined;
  return leaf?.raw ? chainOf(leaf) : [];
}

/**
 * The same checks as verifyPeer (but OpenSSL's) on a chain that passed
 * verifyPeer earlier (see peerChain): whether it still passes under a new
 * trust, e.g. after a CRL reload. Throws CertError.
 */
export function verifyPeerChain(ders: readonly Buffer[], trust: Trust, roles: readonly Role[], peer: string, now: Date = new Date()): Identity {
  if (ders.length === 0) throw new CertError('INSEL_CERT_MISSING', `peer ${peer} presented no certificate`, { peer });
  return checkChain(ders.slice(0, MAX_CHAIN), trust, roles, now, peer);
}

/**
 * The same checks as verifyPeer (but OpenSSL's), offline: `chainPem` is the
 * leaf followed by any site CA, as in certs/<name>.crt. Throws CertError.
 */
export function verifyCertificateChain(chainPem: string, trust: Trust, roles: readonly Role[], now: Date = new Date()): Identity {
  let ders: Buffer[];
  try {
    ders = decodePem(chainPem, 'CERTIFICATE', 'certificate chain');
  } catch (err) {
    if (!(err instanceof PkiError)) throw err;
    throw new CertError('INSEL_CERT_INVALID', `certificate chain: ${err.message}`, { cause: err });
  }
  if (ders.length === 0) throw new CertError('INSEL_CERT_MISSING', 'certificate chain contains no CERTIFICATE PEM block');
  return checkChain(ders.slice(0, MAX_CHAIN), trust, roles, now, undefined);
}

function chainOf(leaf: DetailedPeerCertificate): Buffer[] {
  const ders: Buffer[] = [];
  for (let c: DetailedPeerCertificate | undefined = leaf; c?.raw && ders.length < MAX_CHAIN; c = c.issuerCertificate) {
    if (ders.some((d) => d.equals(c!.raw))) break; // the root's issuerCertificate is itself
    ders.push(c.raw);
  }
  return ders;
}

function checkChain(ders: readonly Buffer[], trust: Trust, roles: readonly Role[], now: Date, peer: string | undefined): Identity {
  const ctx = peer === undefined ? {} : { peer };
  const at = peer === undefined ? '' : ` (peer ${peer})`;
  const leaf = parseCert(ders[0] as Buffer);
  if (!leaf) throw new CertError('INSEL_CERT_INVALID', `certificate${at} cannot be parsed as X.509; re-issue it with insel pki issue`, ctx);
  const whose = `${describe(leaf)}${at}`;
  const fail = (code: CertErrorCode, text: string): CertError => new CertError(code, `${whose} ${text}`, ctx);

  // 2. path to a root
  const pool = ders.slice(1).map(parseCert).filter((c): c is ParsedCert => c !== undefined);
  const built = buildPath(leaf, pool, trust);
  if (!built.ok) throw fail('INSEL_CERT_UNKNOWN_CA', unknownCaText(built.stuck, leaf, built.sameName, trust));
  const { path, root } = built;
  const site = path[1];
  if (site && !(site.isCa && site.mayCertSign && site.identity?.role === 'site')) {
    throw fail('INSEL_CERT_INVALID', `was issued by the ${describe(site)}, which is not a site CA; only the root CA and site CAs issue insel certificates`);
  }

  // 3. dates: leaf, site CA, root
  const siteName = site?.identity?.name ?? '';
  const dated = [
    { c: leaf.cert, who: '', fix: `issue a new one: insel pki issue --role ${leaf.identity?.role ?? 'ROLE'} --name ${leaf.identity?.name ?? 'NAME'} --force` },
    ...(site ? [{ c: site.cert, who: `was issued by site CA ${siteName}, whose certificate `, fix: `renew the site CA: insel pki issue --role site --name ${siteName} --force` }] : []),
    { c: root.cert, who: 'chains to the root CA, whose certificate ', fix: 're-create the PKI (insel pki init --force) and re-issue every certificate' },
  ];
  for (const { c, who, fix } of dated) {
    if (now.getTime() > c.notAfter.getTime()) throw fail('INSEL_CERT_EXPIRED', `${who}expired on ${iso(c.notAfter)} (now ${iso(now)}); ${fix}`);
    if (now.getTime() < c.notBefore.getTime()) {
      throw fail('INSEL_CERT_NOT_YET_VALID', `${who}is not valid before ${iso(c.notBefore)} (now ${iso(now)}); check the clocks of both ends, or wait`);
    }
  }

  // 4. revocation of the leaf and the site CA, each by a CRL of its own issuer
  const leafRevoked = revocationOf(trust, site ? { subject: site.subject, key: site.key as KeyObject } : root, leaf.serial);
  if (leafRevoked) {
    throw fail('INSEL_CERT_REVOKED', `is revoked (${revokedText(leafRevoked)}); if access should be restored, issue a new certificate (insel pki issue --force)`);
  }
  const siteRevoked = site && revocationOf(trust, root, site.serial);
  if (siteRevoked) {
    throw fail('INSEL_CERT_REVOKED', `was issued by site CA ${siteName}, which is revoked (${revokedText(siteRevoked)}), so every certificate it issued is refused; issue a new one from a valid CA`);
  }

  // 5. identity
  const id = leaf.identity;
  if (!id) throw fail('INSEL_CERT_INVALID', `is not usable: ${leaf.identityProblem}; issue certificates with insel pki issue`);
  if (id.org !== root.org) throw fail('INSEL_CERT_INVALID', `claims org ${quote(id.org)} but was issued by the CA of org ${quote(root.org)}`);
  if (leaf.isCa && id.role !== 'site') throw fail('INSEL_CERT_INVALID', `is a CA certificate but has role ${id.role}; only site certificates may be CAs`);

  // 6. what a site CA may issue
  if (site) {
    if (site.identity?.org !== root.org) throw fail('INSEL_CERT_INVALID', `was issued by site CA ${siteName} of another org (${quote(site.identity?.org ?? '')})`);
    if (!SITE_ISSUABLE.includes(id.role)) {
      throw fail('INSEL_CERT_WRONG_ROLE', `has role ${id.role} but was issued by site CA ${siteName}; a site CA may only issue ${SITE_ISSUABLE.join(' and ')} certificates: issue it from the root CA (without --ca)`);
    }
    if (id.site !== siteName) {
      throw fail('INSEL_CERT_INVALID', `claims site ${id.site ?? '(none)'} but was issued by site CA ${siteName}; a site CA may only issue certificates for its own site`);
    }
    const ungranted = ungrantedGroup(id.groups, site.grants);
    if (ungranted !== undefined) throw fail('INSEL_CERT_INVALID', `claims group ${ungranted}, but ${ungrantedText(ungranted, siteName, site.grants)}`);
  }

  // 7. role
  if (!roles.includes(id.role)) {
    throw fail('INSEL_CERT_WRONG_ROLE', `has role ${id.role}, but this end accepts only ${roles.join(', ')}; use a certificate issued with one of those roles (--role)`);
  }
  // The issuer comes from the verified path, never from the leaf's claims.
  return { ...id, serial: leaf.serial, ...(site ? { issuer: siteName } : {}) };
}

function unknownCaText(stuck: ParsedCert, leaf: ParsedCert, sameName: boolean, trust: Trust): string {
  const trusted = trust.roots.map((r) => quote(r.cert.subject)).join(', ');
  const hint = sameName
    ? 'a CA of that name is trusted but its key differs: was the PKI re-created (insel pki init --force)? Re-issue the certificate or update ca.crt'
    : `give it a certificate from this PKI (insel pki issue) or check that both ends use the same ca.crt (${trust.sources.ca})`;
  const what = stuck === leaf ? `was issued by ${quote(stuck.cert.issuer)}` : `chains to ${quote(stuck.cert.issuer)}`;
  return `${what}, which is not a trusted CA (trusted: ${trusted}); ${hint}`;
}

function revokedText(r: Revocation): string {
  return `serial ${r.serial}, since ${iso(r.at)}, reason ${r.reason}`;
}

function iso(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const TLS_CODES: Record<string, CertErrorCode> = {
  CERT_HAS_EXPIRED: 'INSEL_CERT_EXPIRED',
  CERT_NOT_YET_VALID: 'INSEL_CERT_NOT_YET_VALID',
  UNABLE_TO_GET_ISSUER_CERT: 'INSEL_CERT_UNKNOWN_CA',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'INSEL_CERT_UNKNOWN_CA',
  SELF_SIGNED_CERT_IN_CHAIN: 'INSEL_CERT_UNKNOWN_CA',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'INSEL_CERT_UNKNOWN_CA',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'INSEL_CERT_UNKNOWN_CA',
};

/** node sets authorizationError to an OpenSSL code string (typed as Error). */
function tlsErrorCode(e: unknown): string | undefined {
  if (e === null || e === undefined || e === '') return undefined;
  if (typeof e === 'string') return e;
  const o = e as { code?: unknown; message?: unknown };
  return String(o.code ?? o.message ?? e);
}

function fromTlsError(code: string, id: Identity, peer: string): CertError {
  const mapped = TLS_CODES[code] ?? 'INSEL_CERT_INVALID';
  return new CertError(mapped, `certificate of ${id.role} ${id.name} (peer ${peer}) was refused by TLS verification (${code}); re-issue it with insel pki issue and check that both ends use the same ca.crt`, {
    peer,
  });
}
