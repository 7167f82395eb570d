// Synchronous signature checks of certificates and CRLs.
//
// @peculiar/x509 verifies through WebCrypto, which is asynchronous; verifyPeer
// runs in a TLS handshake callback and must be synchronous. So the signed
// bytes are cut out of the DER here and checked with node:crypto's sync verify.
//
// Both Certificate and CertificateList are
//   SEQUENCE { tbs SEQUENCE, signatureAlgorithm SEQUENCE, signature BIT STRING }
// and the signature covers the exact DER bytes of `tbs`, header included.
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import type { HashedAlgorithm } from '@peculiar/x509';

const SEQUENCE = 0x30;

/** Tag, header length and content length of the DER element at `at`, or undefined if malformed. */
function header(der: Uint8Array, at: number): { tag: number; size: number; length: number } | undefined {
  const tag = der[at];
  const first = der[at + 1];
  if (tag === undefined || first === undefined) return undefined;
  if (first < 0x80) return { tag, size: 2, length: first };
  const n = first & 0x7f;
  // DER never needs more than 4 length bytes for anything we read; 0x80 is indefinite (BER only).
  if (n === 0 || n > 4 || at + 2 + n > der.length) return undefined;
  let length = 0;
  for (let i = 0; i < n; i++) length = length * 256 + (der[at + 2 + i] as number);
  return { tag, size: 2 + n, length };
}

/** The to-be-signed bytes of a certificate or CRL, or undefined if `der` is not shaped like one. */
export function signedPart(der: Uint8Array): Uint8Array | undefined {
  const outer = header(der, 0);
  if (outer?.tag !== SEQUENCE || outer.size + outer.length !== der.length) return undefined;
  const tbs = header(der, outer.size);
  if (tbs?.tag !== SEQUENCE) return undefined;
  const end = outer.size + tbs.size + tbs.length;
  return end <= der.length ? der.subarray(outer.size, end) : undefined;
}

const HASHES: Record<string, string> = { 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };

/** The parts of a parsed certificate or CRL that a signature check needs. */
export interface Signed {
  rawData: ArrayBuffer;
  signature: ArrayBuffer;
  signatureAlgorithm: HashedAlgorithm;
}

/** True only if `item` is ECDSA-signed (the only kind insel issues) by `issuerKey`. */
export function isSignedBy(item: Signed, issuerKey: KeyObject): boolean {
  const alg = item.signatureAlgorithm;
  const hash = alg.name === 'ECDSA' ? HASHES[alg.hash.name] : undefined;
  const tbs = signedPart(new Uint8Array(item.rawData));
  if (hash === undefined || tbs === undefined || issuerKey.asymmetricKeyType !== 'ec') return false;
  try {
    return verify(hash, tbs, { key: issuerKey, dsaEncoding: 'der' }, new Uint8Array(item.signature));
  } catch {
    return false; // a malformed signature value is a failed check, not a crash
  }
}

export function publicKeyOf(spki: ArrayBuffer): KeyObject {
  return createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
}
