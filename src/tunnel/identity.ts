// The certificate, key, CA and CRL of a CA-mode end, from `ca`/`cert`/`key`/
// `crl-verify` or from a `profile` directory (insel pki export).
import { profileFiles, readIdentityFiles } from '../config/identity.js';
import type { IdentityPem } from '../pki/profile.js';
import type { TunnelConfig } from '../tunconfig/index.js';

export const HANDSHAKE_TIMEOUT_MS = 10_000;

export function identityOf(cfg: TunnelConfig): IdentityPem {
  const files =
    cfg.profile !== undefined
      ? { ...profileFiles(cfg.profile), ...(cfg.crlVerify === undefined ? {} : { crlFile: cfg.crlVerify }) }
      : { certFile: cfg.cert!, keyFile: cfg.key!, caFile: cfg.ca!, ...(cfg.crlVerify === undefined ? {} : { crlFile: cfg.crlVerify }) };
  return readIdentityFiles(files, cfg.file);
}
