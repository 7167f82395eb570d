// Certificates HQ signs from a CSR: for a site (role site, its name) or a
// user (role user, its site and groups from the registry), by the root that
// signs now; each is recorded in the registry (serial, role, name, issuing
// root) so that revocation by name finds it.
import { DEFAULT_DAYS, validityFor } from '../../pki/ca.js';
import { certPem } from '../../pki/certgen.js';
import { signFromCsr } from '../../pki/csr.js';
import { normalizeSerial } from '../../pki/serial.js';
import type { CodeScope } from '../../store/types.js';
import { SETTING_CA, type HqContext } from './context.js';
import { currentSigner, trustBundle } from './org-pki.js';

export interface Issued {
  serial: string;
  /** certificate PEM (root-signed: the leaf alone) */
  cert: string;
  /** the trust bundle */
  ca: string;
}

export async function issueFromCsr(ctx: HqContext, scope: CodeScope, csr: string): Promise<Issued> {
  const signer = await currentSigner(ctx.pkiDir);
  const now = ctx.now();
  const site = scope.role === 'site' ? scope.name : scope.site;
  const identity = { org: ctx.org, role: scope.role, name: scope.name, ...(site === undefined ? {} : { site }), groups: scope.role === 'site' ? [] : scope.groups };
  const cert = await signFromCsr(signer, csr, identity, validityFor(scope.role === 'site' ? DEFAULT_DAYS.site : DEFAULT_DAYS.leaf, now));
  const serial = normalizeSerial(cert.serialNumber);
  await ctx.registry.addCert({ serial, role: scope.role, name: scope.name, site: site ?? null, notAfter: cert.notAfter, caSerial: normalizeSerial(signer.cert.serialNumber) });
  const ca = (await ctx.registry.getSetting(SETTING_CA)) ?? trustBundle(ctx.pkiDir);
  return { serial, cert: certPem(cert), ca };
}
