// HQ's view of its PKI directory (DIR/pki, an `insel pki` directory): the
// root that signs now, the trust bundle (every root not retired, ca.crt),
// HQ's own TLS identity and the root enrollment codes pin. Read from the
// files at each use: `insel hq ca rollover` in another process changes
// them, and a second HQ with a copy of the same files must sign alike.
import { join } from 'node:path';
import { loadRootSigner } from '../../pki/ca.js';
import type { Signer } from '../../pki/certgen.js';
import { decodePem, encodePem } from '../../pki/pem.js';
import { loadProfile, type IdentityPem } from '../../pki/profile.js';
import { isSignedBy } from '../../pki/signature.js';
import { normalizeSerial } from '../../pki/serial.js';
import { pkiPaths, readFile } from '../../pki/store.js';
import { trustFromPem } from '../../pki/trust.js';
import { toArrayBuffer, x509 } from '../../pki/x509.js';
import { HqError } from './errors.js';

export const HQ_NAME = 'hq';

export function pkiDirOf(hqDir: string): string {
  return join(hqDir, 'pki');
}

/** The root that signs new certificates (the newest). */
export function currentSigner(pkiDir: string): Promise<Signer> {
  return loadRootSigner(pkiPaths(pkiDir));
}

/** Every root certificate a member trusts (ca.crt: all roots not retired), re-encoded. */
export function trustBundle(pkiDir: string): string {
  const file = pkiPaths(pkiDir).caCert;
  return trustFromPem(readFile(file, 'root CA certificate(s)', `create HQ with insel hq init`), undefined, { ca: file }).caPem;
}

/** The DER of the root that signed HQ's certificate: enrolling clients see it at the end of HQ's chain, and codes pin it. */
export function pinnedRootDer(pkiDir: string): Buffer {
  const paths = pkiPaths(pkiDir);
  const [leafDer] = decodePem(readFile(paths.cert(HQ_NAME), 'HQ certificate', 'run insel hq init'), 'CERTIFICATE', paths.cert(HQ_NAME));
  const leaf = new x509.X509Certificate(toArrayBuffer(leafDer!));
  const root = trustFromPem(trustBundle(pkiDir)).roots.find((r) => isSignedBy(leaf, r.key));
  if (root === undefined) throw new HqError(`${paths.cert(HQ_NAME)} is not signed by any root in ${paths.caCert}; re-issue it: insel hq ca rollover renews it`, { file: paths.cert(HQ_NAME) });
  return Buffer.from(root.cert.rawData);
}

/**
 * The root a user code of `site` pins: the one that signed the site's newest
 * live certificate, since the user enrolls at that site and sees its chain
 * (after a rollover a site keeps its old-root certificate until it renews).
 * Falls back to HQ's root when the registry has none (HQ's own test sites).
 */
export function siteRootDer(pkiDir: string, caSerial: string | undefined): Buffer {
  const root = caSerial === undefined ? undefined : trustFromPem(trustBundle(pkiDir)).roots.find((r) => normalizeSerial(r.cert.serialNumber) === caSerial);
  return root === undefined ? pinnedRootDer(pkiDir) : Buffer.from(root.cert.rawData);
}

/** HQ's TLS identity: its certificate followed by the root that signed it (the end of the chain a code's pin is checked on), its key, the trust bundle. */
export function hqIdentity(pkiDir: string, ca: string): IdentityPem {
  const p = loadProfile(pkiDir, HQ_NAME);
  const leaf = p.cert.slice(0, p.cert.indexOf('-----END CERTIFICATE-----') + '-----END CERTIFICATE-----\n'.length);
  return { cert: leaf + encodePem(pinnedRootDer(pkiDir), 'CERTIFICATE'), key: p.key, ca };
}

/** The DNS names and IPs in HQ's certificate (what `insel hq init --host` gave): kept when it is re-issued. */
export function hqHosts(pkiDir: string): string[] {
  const paths = pkiPaths(pkiDir);
  const [der] = decodePem(readFile(paths.cert(HQ_NAME), 'HQ certificate', 'run insel hq init'), 'CERTIFICATE', paths.cert(HQ_NAME));
  const san = new x509.X509Certificate(toArrayBuffer(der!)).getExtension(x509.SubjectAlternativeNameExtension);
  return (san?.names.items ?? []).filter((n) => n.type === 'dns' || n.type === 'ip').map((n) => n.value);
}
