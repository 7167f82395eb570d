// Certificate signing requests (PKCS#10): how an end asks for a certificate
// without its private key ever leaving it. The end makes its key and sends a
// CSR; the CA takes only the public key from it, after checking the CSR's
// self-signature (proof that the sender holds the key). Who the certificate
// speaks for comes from the CA's own records (HQ's registry), never from the
// CSR: its subject is a hint for humans and is ignored.
//
// A CSR arrives from an unauthenticated peer, so readCsr is strict and bounded:
// at most MAX_CSR_TEXT characters, exactly one PEM block (CERTIFICATE REQUEST),
// DER that parses, an ECDSA P-256 key (the only kind insel issues for), and a
// self-signature that verifies. Anything else is PkiError INSEL_PKI_BAD_CSR.
import { createPublicKey, type KeyObject } from 'node:crypto';
import type { X509Certificate } from '@peculiar/x509';
import { createCert, withinIssuer, type Signer, type Validity } from './certgen.js';
import { PkiError } from './errors.js';
import type { Identity } from './identity.js';
import { decodePem, encodePem } from './pem.js';
import { isSignedBy } from './signature.js';
import { KEY_ALGORITHM, SIGNING_ALGORITHM, toArrayBuffer, x509 } from './x509.js';

/** An insel CSR is about 400 characters; 16 KiB leaves room for any honest one and bounds what a peer makes us parse. */
export const MAX_CSR_TEXT = 16 * 1024;
const CSR_LABEL = 'CERTIFICATE REQUEST';
const SOURCE = 'CSR';

function badCsr(what: string, cause?: unknown): PkiError {
  return new PkiError('INSEL_PKI_BAD_CSR', `the certificate request (CSR) ${what}; create a new request with insel (it makes the key and the CSR) and send it again`, {
    field: 'csr',
    ...(cause === undefined ? {} : { cause }),
  });
}

/** A CSR (PEM) for `keys`, with CN=`name` as a hint for humans (the CA decides the identity). */
export async function createCsr(keys: CryptoKeyPair, name: string): Promise<string> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: [{ CN: [name] }], keys, signingAlgorithm: SIGNING_ALGORITHM });
  return encodePem(new Uint8Array(csr.rawData), CSR_LABEL);
}

export interface ReadCsr {
  /** the requester's public key, for createCert */
  publicKey: CryptoKey;
  /** its SubjectPublicKeyInfo (DER) */
  spki: Buffer;
}

/** The DER of the one CSR block in `pem`. */
function csrDer(pem: unknown): Buffer {
  if (typeof pem !== 'string') throw badCsr('is not text');
  if (pem.length > MAX_CSR_TEXT) throw badCsr(`is ${pem.length} characters long, more than the ${MAX_CSR_TEXT} allowed`);
  const blocks = pem.split('-----BEGIN ').length - 1;
  let ders: Buffer[];
  try {
    ders = decodePem(pem, CSR_LABEL, SOURCE);
  } catch (err) {
    throw badCsr('is not valid PEM (its body is not base64)', err);
  }
  if (blocks !== 1 || ders.length !== 1) throw badCsr(`must be exactly one ${CSR_LABEL} PEM block and nothing else, found ${ders.length} such and ${blocks} PEM blocks in all`);
  return ders[0] as Buffer;
}

/** The CSR's key as a node KeyObject, refusing any key but ECDSA P-256. */
function p256Key(spki: Buffer): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  } catch (err) {
    throw badCsr('carries a public key that cannot be read', err);
  }
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType !== 'ec' || curve !== 'prime256v1') {
    throw badCsr(`carries a key of type ${key.asymmetricKeyType ?? 'unknown'}${curve ? ` (${curve})` : ''}, but insel certificates are for ECDSA P-256 keys only`);
  }
  return key;
}

/** Parses and checks a CSR from a peer. Throws PkiError INSEL_PKI_BAD_CSR, nothing else. */
export async function readCsr(pem: string): Promise<ReadCsr> {
  const der = csrDer(pem);
  let csr: InstanceType<typeof x509.Pkcs10CertificateRequest>;
  let spki: Buffer;
  try {
    csr = new x509.Pkcs10CertificateRequest(toArrayBuffer(der));
    spki = Buffer.from(csr.publicKey.rawData);
  } catch (err) {
    throw badCsr('is not a well-formed PKCS#10 request', err);
  }
  const key = p256Key(spki);
  let signed: boolean;
  try {
    signed = isSignedBy(csr, key);
  } catch (err) {
    throw badCsr('has a signature that cannot be read', err);
  }
  if (!signed) throw badCsr('is not signed by its own key with ECDSA (it was altered, or made for another key)');
  try {
    const publicKey = await crypto.subtle.importKey('spki', toArrayBuffer(spki), KEY_ALGORITHM, true, ['verify']);
    return { publicKey, spki };
  } catch (err) {
    throw badCsr('carries a public key WebCrypto cannot import', err);
  }
}

/**
 * A certificate for the key in `csrPem`, signed by `signer`, for `identity`
 * as the caller's records have it (never the CSR's subject). Throws PkiError
 * INSEL_PKI_BAD_CSR for a bad CSR. The validity is cut at the signer's own
 * notAfter (withinIssuer).
 */
export async function signFromCsr(
  signer: Signer,
  csrPem: string,
  identity: Omit<Identity, 'serial'>,
  validity: Validity,
  more: { hosts?: readonly string[]; grants?: readonly string[] } = {},
): Promise<X509Certificate> {
  const { publicKey } = await readCsr(csrPem);
  return createCert(identity, publicKey, signer, withinIssuer(validity, signer, identity.name), more);
}
