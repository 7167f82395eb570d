// The one place insel's TLS contexts are built, client and server: TLS 1.3
// only, our certificate chain and key, our CA, ALPN names given by the
// protocol that runs on top. rejectUnauthorized is off on both ends: verifyPeer
// (pki/verify.ts) decides, by role and against our CRLs, and can say why;
// OpenSSL could only hang up. Our CRL bundle is never handed to node:tls (see
// IdentityPem.crl).
import { isIP } from 'node:net';
import type { ConnectionOptions, TlsOptions } from 'node:tls';
import type { IdentityPem } from '../pki/profile.js';

export interface ClientTlsOptions {
  host: string;
  port: number;
  /** without cert and key: no client certificate (enrollment, which pins the server instead) */
  identity: IdentityPem | { cert?: undefined; key?: undefined; ca?: undefined };
  /** ALPN protocols to offer, most preferred first; none: no ALPN */
  alpn?: readonly string[];
  /** disable Nagle (small control frames must not wait) */
  noDelay?: boolean;
}

export interface ServerTlsOptions {
  identity: IdentityPem;
  /** ALPN protocols to accept, most preferred first; none: no ALPN */
  alpn?: readonly string[];
  noDelay?: boolean;
}

/** SNI carries a host name only: an IP literal is never sent (RFC 6066 §3). */
function serverNameFor(host: string): string | undefined {
  return isIP(host) ? undefined : host;
}

export function clientContext(o: ClientTlsOptions): ConnectionOptions {
  const servername = serverNameFor(o.host);
  return {
    host: o.host,
    port: o.port,
    ...(o.identity.cert === undefined ? {} : { key: o.identity.key, cert: o.identity.cert, ca: o.identity.ca }),
    minVersion: 'TLSv1.3',
    rejectUnauthorized: false, // verifyPeer decides, by certificate role rather than host name
    checkServerIdentity: () => undefined, // the name is checked by verifyServer, against insel names too
    ...(o.alpn === undefined ? {} : { ALPNProtocols: [...o.alpn] }),
    ...(servername === undefined ? {} : { servername }),
  };
}

export function serverContext(o: ServerTlsOptions): TlsOptions {
  return {
    key: o.identity.key,
    cert: o.identity.cert,
    ca: o.identity.ca,
    requestCert: true,
    rejectUnauthorized: false, // verifyPeer decides, and the client is told which check failed
    minVersion: 'TLSv1.3',
    ...(o.alpn === undefined ? {} : { ALPNProtocols: [...o.alpn] }),
    // No handshakeTimeout: the gate (listen.ts) closes a connection not verified within its deadline from
    // accept, however it trickles bytes; node's own timer is an idle timer that never fires first.
    ...(o.noDelay === undefined ? {} : { noDelay: o.noDelay }),
  };
}
