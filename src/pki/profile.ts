// What one end needs to run: its certificate chain, its key, the root CA and
// the CRLs, as PEM strings ready for the TLS options (tls/options.ts),
// SecServer.listen / connect and the gateway.
import { existsSync } from 'node:fs';
import { checkKeyMatches, readCertFile } from './ca.js';
import { checkName } from './identity.js';
import { pkiPaths, readFile } from './store.js';

/** An identity as PEM strings: from a PKI directory (loadProfile) or from files (config/identity.ts). */
export interface IdentityPem {
  /** leaf certificate, followed by its site CA if a site issued it */
  cert: string;
  key: string;
  ca: string;
  /**
   * crl.pem, a bundle of several CRLs: for trustFromPem. Do not pass it as
   * node tls `crl`: node reads only the first CRL of a PEM string, and then
   * fails every certificate issued by a site CA with UNABLE_TO_GET_CRL.
   */
  crl?: string;
}

/** Reads the files of `name`; PkiError NOT_FOUND if it was never issued, BAD_FILE if key and certificate differ. */
export function loadProfile(dir: string, name: string): IdentityPem {
  checkName(name, 'name');
  const paths = pkiPaths(dir);
  const hint = `issue it with insel pki issue --dir ${dir} --name ${name} --role ROLE`;
  const { cert, pem } = readCertFile(paths.cert(name), `certificate of ${name}`, hint);
  const key = readFile(paths.key(name), `private key of ${name}`, hint);
  checkKeyMatches(cert, key, paths.key(name), paths.cert(name));
  const ca = readFile(paths.caCert, 'CA certificate', `create the PKI with insel pki init --dir ${dir}`);
  const crl = existsSync(paths.crl) ? readFile(paths.crl, 'CRL', 'run insel pki crl') : undefined;
  return { cert: pem, key, ca, ...(crl === undefined ? {} : { crl }) };
}
