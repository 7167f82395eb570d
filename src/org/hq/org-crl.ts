// The organization's CRL: every certificate the registry lists as revoked,
// in one CRL per live root (each listing what it signed), plus DIR/pki's own
// crl.pem (certificates issued with `insel pki` there: HQ's own, an adopted
// PKI's). Stored in the registry's settings, so every HQ hands out the same
// and pushes it to the gateways.
import { existsSync, readFileSync } from 'node:fs';
import { rootCrlsPem } from '../../pki/crl.js';
import { pkiPaths } from '../../pki/store.js';
import { CRL_REASONS, type CrlReason } from '../../pki/trust.js';
import { SETTING_CRL, type HqContext } from './context.js';

/** A CRL reason name is carried into the CRL; any other text (a human's "left the company") is "unspecified" there. */
function crlReason(reason: string | null): CrlReason {
  return (CRL_REASONS as readonly string[]).includes(reason ?? '') ? (reason as CrlReason) : 'unspecified';
}

/** Signs the CRLs anew and stores them (settings "crl"); returns the PEM bundle. */
export async function signOrgCrl(ctx: HqContext): Promise<string> {
  const now = ctx.now();
  const revoked = (await ctx.registry.revokedCerts()).map((c) => ({ serial: c.serial, at: c.revokedAt ?? now, reason: crlReason(c.reason), issuerSerial: c.caSerial }));
  const pkiCrl = pkiPaths(ctx.pkiDir).crl;
  const pem = (await rootCrlsPem({ dir: ctx.pkiDir, revoked, now })) + (existsSync(pkiCrl) ? readFileSync(pkiCrl, 'utf8') : '');
  await ctx.registry.setSetting(SETTING_CRL, pem);
  return pem;
}
