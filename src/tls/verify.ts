// A client's check of the server it reached: verifyPeer (chain, dates, CRLs,
// role) and, if the client expects a name, that name (pki/server-name.ts).
// Servers check clients with verifyPeer alone: a client's name is its
// identity, matched by policy.
import type { TLSSocket } from 'node:tls';
import type { Identity, Role } from '../pki/identity.js';
import { checkServerName } from '../pki/server-name.js';
import type { Trust } from '../pki/trust.js';
import { verifyPeer } from '../pki/verify.js';

export interface ServerCheck {
  roles: readonly Role[];
  /** the name the server's certificate must carry (insel name or --host name); none: any name */
  name?: string;
  /** how this client pins the name presented instead, e.g. "pin it with --gateway-name srv2" */
  pin: (name: string) => string;
}

/** The server's identity; throws CertError (INSEL_CERT_WRONG_NAME for the name) saying why not. */
export function verifyServer(socket: TLSSocket, trust: Trust, peer: string, check: ServerCheck): Identity {
  const server = verifyPeer(socket, trust, check.roles, peer);
  if (check.name !== undefined) checkServerName(socket, server, check.name, peer, check.pin);
  return server;
}
