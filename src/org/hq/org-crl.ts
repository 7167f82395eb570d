// The organization's CRL: every certificate the registry lists as revoked,
// in one CRL per root that issued some (after a rollover both roots sign
// one), stored in the registry's settings so every HQ hands out the same
// and pushes it to the gateways.
import { existsSync, readFileSync } from 'node:fs';
import { CRL_DAYS } from '../../pki/ca.js';
import { createCrl, crlPem, type Signer } from '../../pki/certgen.js';
import { pkiPaths } from '../../pki/store.js';
import { normalizeSerial } from '../../pki/serial.js';
import { CRL_REASONS } from '../../pki/trust.js';
import { x509 } from '../../pki/x509.js';
import type { CertRow } from '../../store/types.js';
import { SETTING_CRL, type HqContext } from './context.js';
import { liveRootSigners } from './org-pki.js';

const DAY_MS = 24 * 3600_000;

/** A CRL reason name is carried into the CRL; any other text (a human's "left the company") is "unspecified" there. */
function crlReason(reason: string | null): x509.X509CrlReason {
  return (CRL_REASONS as readonly string[]).includes(reason ?? '') ? x509.X509CrlReason[reason as keyof typeof x509.X509CrlReason] : x509.X509CrlReason.unspecified;
}

/** Signs the CRLs anew and stores them (settings "crl"); returns the PEM bundle. */
export async function signOrgCrl(ctx: HqContext): Promise<string> {
  const now = ctx.now();
  const revoked = await ctx.registry.revokedCerts();
  const signers: Signer[] = await liveRootSigners(ctx.pkiDir);
  const validity = { thisUpdate: now, nextUpdate: new Date(now.getTime() + CRL_DAYS * DAY_MS) };
  const pems: string[] = [];
  for (const s of signers) {
    const serial = normalizeSerial(s.cert.serialNumber);
    const mine = signers.length === 1 ? revoked : revoked.filter((c: CertRow) => c.caSerial === serial);
    const entries = mine.map((c) => ({ serial: c.serial, at: c.revokedAt ?? now, reason: crlReason(c.reason) }));
    pems.push(crlPem(await createCrl(s, entries, validity)));
  }
  // Certificates issued with `insel pki` in DIR/pki (HQ's own, an adopted PKI's) are revoked there: its CRL rides along.
  const pkiCrl = pkiPaths(ctx.pkiDir).crl;
  if (existsSync(pkiCrl)) pems.push(readFileSync(pkiCrl, 'utf8'));
  const pem = pems.join('');
  await ctx.registry.setSetting(SETTING_CRL, pem);
  return pem;
}
