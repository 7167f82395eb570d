// Is the server we reached the one we asked for? verifyPeer says a peer is
// of our org and has an accepted role; any server certificate passes that.
// A client also checks the name: the name it expects (the host it dialled,
// or an identity name pinned in its config) must be
//
//   - the certificate's insel identity name, or
//   - one of its DNS or IP subjectAltNames (insel pki issue --host), compared
//     exactly (DNS case-insensitively, no wildcards, the subject CN ignored).
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { CertError } from './errors.js';
import type { Identity } from './identity.js';

/** The DNS and IP names of a certificate, as written by insel pki issue --host. */
export function hostNamesOf(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(', ')
    .map((n) => /^(?:DNS|IP Address):(.+)$/.exec(n)?.[1])
    .filter((n): n is string => n !== undefined);
}

/** True if `cert` (of `server`) carries `expected` as its identity name or a DNS/IP name. */
export function certHasName(cert: X509Certificate, server: Pick<Identity, 'name'>, expected: string): boolean {
  if (server.name === expected) return true;
  const host = expected.replace(/\.$/, '');
  if (isIP(host)) return cert.checkIP(host) !== undefined;
  return cert.checkHost(host, { subject: 'never', wildcards: false }) !== undefined;
}

/**
 * Throws CertError INSEL_CERT_WRONG_NAME unless the peer of `socket`, already
 * verified as `server`, carries `expected`. `pin` says how this client pins
 * the name presented instead (e.g. "pin it with --gateway-name srv2").
 */
export function checkServerName(socket: TLSSocket, server: Identity, expected: string, peer: string, pin: (name: string) => string): void {
  const raw = socket.getPeerCertificate().raw;
  const cert = new X509Certificate(raw);
  if (certHasName(cert, server, expected)) return;
  const hosts = hostNamesOf(cert);
  throw new CertError(
    'INSEL_CERT_WRONG_NAME',
    `expected the server ${expected} but ${peer} presented ${server.role} ${server.name} (its --host names: ${hosts.length > 0 ? hosts.join(', ') : 'none'}); ` +
      `if that is the right server, ${pin(server.name)}, or re-issue its certificate with insel pki issue --role server --name ${server.name} --host ${expected} --force; otherwise something else answers at ${peer}`,
    { peer },
  );
}
