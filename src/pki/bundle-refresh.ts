// Refreshing a client's trust bundle (its ca.pem: the roots it trusts) from
// the one its gateway hands out (PROTOCOL §5.2, GET /insel/v1/ca), so that a
// CA rollover (rollover.ts) reaches ends that only ever talk to a gateway:
// an organization's users. The gateway was verified under the roots held
// now; what keeps it from swapping the trust anchor:
//
//   - the offered bundle must contain a root held now, byte for byte: a
//     rollover adds a root beside the old ones and a retirement drops one,
//     never all at once, so a genuine bundle always overlaps ours;
//   - every root in it must be of an org of the roots held (O=): identities
//     under a root carry its org, so another org's root could only smuggle
//     in a second organization;
//   - only self-signed CA certificates (trustFromPem).
//
// So a compromised gateway can at most add a root of our org beside ours,
// never replace them; the roots it drops are the ones it no longer needs.
// Pure: PEM in, PEM out; the caller fetches and stores.
import { PkiError } from './errors.js';
import { decodePem } from './pem.js';
import { normalizeSerial } from './serial.js';
import { isSignedBy } from './signature.js';
import { trustFromPem, type TrustedCa } from './trust.js';
import { toArrayBuffer, x509 } from './x509.js';

export interface BundleChange {
  /** the bundle to hold from now on (the offered one, re-encoded) */
  pem: string;
  /** roots it adds and drops, described ("insel root CA 2" serial …) */
  added: string[];
  dropped: string[];
}

/** A root for messages: its CN and serial. */
export function describeRoot(r: TrustedCa): string {
  return `"${r.cert.subjectName.getField('CN')[0] ?? '?'}" (serial ${normalizeSerial(r.cert.serialNumber)})`;
}

const der = (r: TrustedCa) => Buffer.from(r.cert.rawData).toString('base64');

/**
 * The change `offeredPem` (from `source`, e.g. "gateway gw:7444") makes to
 * `heldPem` (read from `file`), or undefined if it is the same bundle.
 * Throws PkiError INSEL_CA_UNTRUSTED (no root in common, another org's root)
 * or INSEL_PKI_BAD_FILE (not a bundle of root CA certificates).
 */
export function mergeBundle(heldPem: string, offeredPem: string, source: string, file: string): BundleChange | undefined {
  const held = trustFromPem(heldPem, undefined, { ca: file });
  const offered = trustFromPem(offeredPem, undefined, { ca: `the trust bundle from ${source}` });
  if (offered.caPem === held.caPem) return undefined;
  const orgs = new Set(held.roots.map((r) => r.org));
  const foreign = offered.roots.find((r) => !orgs.has(r.org));
  if (foreign !== undefined) {
    throw new PkiError('INSEL_CA_UNTRUSTED', `the trust bundle from ${source} holds root CA ${describeRoot(foreign)} of organization "${foreign.org}", not ours ("${[...orgs].join('", "')}"): refused, ${file} kept`, { file, peer: source });
  }
  const heldDers = new Set(held.roots.map(der));
  if (!offered.roots.some((r) => heldDers.has(der(r)))) {
    throw new PkiError(
      'INSEL_CA_UNTRUSTED',
      `the trust bundle from ${source} contains none of the root CAs in ${file} (${held.roots.map(describeRoot).join(', ')}): refused, ${file} kept; a CA rollover adds a root beside the old one, it never replaces them all; if your organization really replaced its CA, log in again with a new code`,
      { file, peer: source },
    );
  }
  const offeredDers = new Set(offered.roots.map(der));
  return { pem: offered.caPem, added: offered.roots.filter((r) => !heldDers.has(der(r))).map(describeRoot), dropped: held.roots.filter((r) => !offeredDers.has(der(r))).map(describeRoot) };
}

/** Whether the leaf of `certPem` is signed by the newest root of `bundlePem` (the last: bundles are oldest first). */
export function signedByNewest(certPem: string, bundlePem: string): boolean {
  const [leaf] = decodePem(certPem, 'CERTIFICATE', 'certificate');
  const newest = trustFromPem(bundlePem).roots.at(-1);
  return leaf !== undefined && newest !== undefined && isSignedBy(new x509.X509Certificate(toArrayBuffer(leaf)), newest.key);
}
