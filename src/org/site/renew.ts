// After a CA rollover the site moves its own certificate onto the newest
// root before the old one is retired (`insel site renew`, or
// SiteGateway.renewCertificate): same key, a CSR, HQ's `renew` over the link
// (HqLink.renew; a link without it, as in tests, renews nothing). The newest
// root is the last in the bundle. Not automatic: a user whose ca.pem holds
// only the old root would refuse the renewed certificate, and users take
// the new root from the site's bundle on their next session
// (forward/gateway-trust.ts), so the admin renews once they have connected.
import { keyPairFromPem } from '../../pki/certgen.js';
import { createCsr } from '../../pki/csr.js';
import { decodePem, encodePem } from '../../pki/pem.js';
import type { IdentityPem } from '../../pki/profile.js';
import { trustFromPem } from '../../pki/trust.js';
import { verifyCertificateChain } from '../../pki/verify.js';
import type { HqApi } from '../wire/hq-api.js';

type Renewing = Partial<{ renew(csr: string): Promise<{ cert: string; ca: string }>; setIdentity(identity: IdentityPem): void }>;

/** The root of `bundle` that `cert` chains to (PEM), or undefined. */
function signingRoot(cert: string, bundle: string, newestOnly = false): string | undefined {
  const roots = decodePem(bundle, 'CERTIFICATE', 'trust bundle').map((der) => encodePem(der, 'CERTIFICATE'));
  for (const root of newestOnly ? roots.slice(-1) : roots.reverse()) {
    try {
      verifyCertificateChain(cert, trustFromPem(root), ['site']);
      return root;
    } catch {
      // another root
    }
  }
  return undefined;
}

/** Whether `cert` chains to the newest root of `bundle`. */
export function onNewestRoot(cert: string, bundle: string): boolean {
  return signingRoot(cert, bundle, true) !== undefined;
}

/**
 * The leaf followed by the root that signed it, as HQ presents its own: with
 * two roots of one name in the bundle, OpenSSL could otherwise send the old
 * one, and an enrollment code pinning the new root would be refused.
 */
function chainWithRoot(cert: string, bundle: string): string {
  const [leaf] = decodePem(cert, 'CERTIFICATE', 'certificate');
  const root = signingRoot(cert, bundle);
  return encodePem(leaf!, 'CERTIFICATE') + (root ?? '');
}

/** The renewed certificate and bundle, or undefined when the link cannot renew or the certificate is on the newest root already. */
export async function renewOntoNewestRoot(hq: HqApi, identity: IdentityPem, name: string): Promise<{ cert: string; ca: string } | undefined> {
  const link = hq as HqApi & Renewing;
  if (typeof link.renew !== 'function' || onNewestRoot(identity.cert, identity.ca)) return undefined;
  const answer = await link.renew(await createCsr(await keyPairFromPem(identity.key, 'key.pem'), name));
  const renewed = { cert: chainWithRoot(answer.cert, answer.ca), ca: answer.ca };
  link.setIdentity?.({ ...identity, ...renewed });
  return renewed;
}
