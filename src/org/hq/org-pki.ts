// HQ's view of its PKI directory (DIR/pki, an `insel pki` directory): the
// root that signs now, the trust bundle (every root not retired), HQ's own
// TLS identity and the root enrollment codes pin. Read from the files at
// each use: `insel hq ca rollover` in another process changes them, and a
// second HQ with a copy of the same files must sign alike.
import { join } from 'node:path';
import { readCertFile, loadRootSigner } from '../../pki/ca.js';
import { certPem, type Signer } from '../../pki/certgen.js';
import type { IdentityPem } from '../../pki/profile.js';
import { loadProfile } from '../../pki/profile.js';
import { pkiPaths } from '../../pki/store.js';
import { decodePem } from '../../pki/pem.js';

export const HQ_NAME = 'hq';

export function pkiDirOf(hqDir: string): string {
  return join(hqDir, 'pki');
}

/** The root that signs new certificates. */
export function currentSigner(pkiDir: string): Promise<Signer> {
  return loadRootSigner(pkiPaths(pkiDir));
}

/** Every root that still signs CRLs (all roots not retired). */
export async function liveRootSigners(pkiDir: string): Promise<Signer[]> {
  return [await currentSigner(pkiDir)];
}

/** Every root certificate a member trusts (PEM). */
export function trustBundle(pkiDir: string): string {
  const paths = pkiPaths(pkiDir);
  return certPem(readCertFile(paths.caCert, 'root CA certificate', `create HQ with insel hq init --dir ${pkiDir}/..`).cert);
}

/** HQ's TLS identity: its certificate followed by the roots (so an enrolling client can check the pin), its key, the trust bundle. */
export function hqIdentity(pkiDir: string, ca: string, crl: string | undefined): IdentityPem {
  const p = loadProfile(pkiDir, HQ_NAME);
  return { cert: p.cert + ca, key: p.key, ca, ...(crl === undefined || crl === '' ? {} : { crl }) };
}

/** The DER of the root enrollment codes pin: the one that signed HQ's certificate, which enrolling clients see. */
export function pinnedRootDer(pkiDir: string): Buffer {
  const paths = pkiPaths(pkiDir);
  const [der] = decodePem(readCertFile(paths.caCert, 'root CA certificate', '').pem, 'CERTIFICATE', paths.caCert);
  return der!;
}
