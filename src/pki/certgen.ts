// Building keys, certificates and CRLs, without touching files (store.ts and
// friends decide what goes where). Every key is ECDSA P-256, every signature
// ECDSA with SHA-256.
//
// Profiles (what verify.ts expects):
//   root     CN=insel root CA, O=<org>; CA, no path limit; keyCertSign, cRLSign
//            (generation n >= 2 of a rolled-over CA: CN=insel root CA <n>)
//   site     CN=<name>, O=<org>, OU=site; CA pathLen 0; keyCertSign, cRLSign,
//            digitalSignature; EKU serverAuth+clientAuth (the gateway's TLS cert too);
//            the groups it may grant, if any (grants.ts)
//   others   CN=<name>, O=<org>, OU=<role>; not a CA; digitalSignature;
//            EKU serverAuth+clientAuth (any end may be TLS client or server)
// All but the root carry the identity as a subjectAltName URI; servers may
// add DNS/IP names (--host) for standard TLS clients that check host names.
import { isIP } from 'node:net';
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import type { X509Certificate, X509Crl } from '@peculiar/x509';
import { UsageError } from '../errors.js';
import { PkiError } from './errors.js';
import { grantsExtension } from './grants.js';
import { encodeIdentityUri, type Identity } from './identity.js';
import { decodeOnePem, encodePem } from './pem.js';
import { newSerial } from './serial.js';
import { KEY_ALGORITHM, SIGNING_ALGORITHM, toArrayBuffer, x509 } from './x509.js';

export const ROOT_CN = 'insel root CA';

export function newKeyPair(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
}

export async function privateKeyPem(key: CryptoKey): Promise<string> {
  return encodePem(new Uint8Array(await crypto.subtle.exportKey('pkcs8', key)), 'PRIVATE KEY');
}

/** The key pair in a PKCS#8 PEM file, for signing. Throws PkiError naming `file`. */
export async function keyPairFromPem(pem: string, file: string): Promise<CryptoKeyPair & { spki: Buffer }> {
  const der = decodeOnePem(pem, 'PRIVATE KEY', file);
  try {
    const keyObject = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    if (keyObject.asymmetricKeyType !== 'ec' || keyObject.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw new Error('not an ECDSA P-256 key');
    const privateKey = await crypto.subtle.importKey('pkcs8', toArrayBuffer(der), KEY_ALGORITHM, true, ['sign']);
    const spki = createPublicKey(keyObject).export({ format: 'der', type: 'spki' });
    const publicKey = await crypto.subtle.importKey('spki', toArrayBuffer(spki), KEY_ALGORITHM, true, ['verify']);
    return { privateKey, publicKey, spki };
  } catch (err) {
    throw new PkiError('INSEL_PKI_BAD_FILE', `${file}: not a usable private key (${(err as Error).message}); restore it from a backup`, { file, cause: err });
  }
}

/** A short stable id of a public key: the first 20 bytes of SHA-256 over its SPKI, hex. */
export function keyIdOf(spki: ArrayBuffer | Uint8Array): string {
  return createHash('sha256').update(new Uint8Array(spki)).digest('hex').slice(0, 40);
}

export interface Validity {
  notBefore: Date;
  notAfter: Date;
}

/** The CN of root generation `generation`: distinct per generation, so CRLs and issuers of two roots never share a name. */
export function rootCn(generation: number): string {
  return generation === 1 ? ROOT_CN : `${ROOT_CN} ${generation}`;
}

export async function createRootCert(org: string, keys: CryptoKeyPair, validity: Validity, generation = 1): Promise<X509Certificate> {
  return x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: newSerial(),
    name: [{ CN: [rootCn(generation)] }, { O: [org] }],
    ...validity,
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
}

export interface Signer {
  cert: X509Certificate;
  privateKey: CryptoKey;
}

/**
 * `validity` cut at the issuer's notAfter: a certificate cannot outlive its
 * issuer (verify would refuse it once the issuer expires anyway). Throws
 * UsageError naming `name` if nothing is left.
 */
export function withinIssuer(validity: Validity, issuer: Signer, name: string): Validity {
  const notAfter = validity.notAfter > issuer.cert.notAfter ? issuer.cert.notAfter : validity.notAfter;
  if (validity.notBefore >= notAfter) {
    throw new UsageError(`${name}: valid from ${validity.notBefore.toISOString()} to ${notAfter.toISOString()} is empty (its CA is valid until ${issuer.cert.notAfter.toISOString()})`, { field: 'days' });
  }
  return { notBefore: validity.notBefore, notAfter };
}

/** A site CA certificate (role site) or a leaf (any other role) for `identity`, signed by `issuer`. */
export async function createCert(
  identity: Omit<Identity, 'serial'>,
  publicKey: CryptoKey,
  issuer: Signer,
  validity: Validity,
  more: {
    /** DNS names and IPs for standard TLS clients (curl --proxy https://…), which check the host name */
    hosts?: readonly string[];
    /** for a site CA: the groups it may grant (grants.ts) */
    grants?: readonly string[];
  } = {},
): Promise<X509Certificate> {
  const ca = identity.role === 'site';
  const hosts = more.hosts ?? [];
  const grants = more.grants ?? [];
  const usages = ca
    ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature
    : x509.KeyUsageFlags.digitalSignature;
  return x509.X509CertificateGenerator.create({
    serialNumber: newSerial(),
    subject: [{ CN: [identity.name] }, { O: [identity.org] }, { OU: [identity.role] }],
    issuer: issuer.cert.subjectName,
    ...validity,
    publicKey,
    signingKey: issuer.privateKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      ca ? new x509.BasicConstraintsExtension(true, 0, true) : new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(usages, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: 'url', value: encodeIdentityUri(identity) },
        ...hosts.map((h) => ({ type: isIP(h) ? ('ip' as const) : ('dns' as const), value: h })),
      ]),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(issuer.cert.publicKey),
      ...(grants.length > 0 ? [grantsExtension(grants)] : []),
    ],
  });
}

export interface CrlEntry {
  serial: string;
  at: Date;
  reason: x509.X509CrlReason;
}

export async function createCrl(issuer: Signer, entries: readonly CrlEntry[], validity: { thisUpdate: Date; nextUpdate: Date }): Promise<X509Crl> {
  return x509.X509CrlGenerator.create({
    issuer: issuer.cert.subjectName,
    ...validity,
    entries: entries.map((e) => ({ serialNumber: e.serial, revocationDate: e.at, reason: e.reason })),
    signingAlgorithm: SIGNING_ALGORITHM,
    signingKey: issuer.privateKey,
    extensions: [await x509.AuthorityKeyIdentifierExtension.create(issuer.cert.publicKey)],
  });
}

export function certPem(cert: X509Certificate): string {
  return encodePem(new Uint8Array(cert.rawData), 'CERTIFICATE');
}

export function crlPem(crl: X509Crl): string {
  return encodePem(new Uint8Array(crl.rawData), 'X509 CRL');
}
