// Enrolling with a code, the client side (`insel site enroll`, and `insel
// login` for users): the key is made here and never leaves (key.pem 0600);
// a CSR goes to the server over insel-enroll/1. The code is sent only to a
// server whose certificate chain ends at the root the code pins, and whose
// certificate has a role that serves enrollment (hq, or site for users):
// a man in the middle, or another organization, gets nothing. The answer's
// certificate must be for our key, of the expected role, and chain to the
// pinned root.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { UsageError } from '../../errors.js';
import { formatHostPort, type HostPort } from '../../net/host-port.js';
import { newKeyPair, privateKeyPem } from '../../pki/certgen.js';
import { createCsr } from '../../pki/csr.js';
import { CertError } from '../../pki/errors.js';
import type { Identity, Role } from '../../pki/identity.js';
import { decodePem, encodePem } from '../../pki/pem.js';
import { toArrayBuffer, x509 } from '../../pki/x509.js';
import { KEY_MODE, PRIVATE_DIR_MODE, PUBLIC_MODE, writeFileAtomic } from '../../pki/store.js';
import { trustFromPem } from '../../pki/trust.js';
import { peerChain, verifyCertificateChain, verifyPeerChain } from '../../pki/verify.js';
import { connectTls } from '../../tls/connect.js';
import { ALPN_ENROLL } from '../wire/constants.js';
import { OrgClientConnection } from '../wire/connection.js';
import { OrgRefusedError, WireError } from '../wire/errors.js';
import { parseCode, pinnedRoot } from './code.js';
import { enrollRefusal, EnrollError, type EnrollErrorCode } from './errors.js';

export interface EnrollOptions {
  /** HQ (a site's code) or the user's site gateway (a user's code) */
  server: HostPort;
  code: string;
  /** the profile directory to write: cert.pem, key.pem (0600), ca.pem */
  dir: string;
  /** the role the certificate must have: what the code is for */
  role: 'site' | 'user';
  /** roles a server may have to take codes (default: hq for sites; site or hq for users) */
  serverRoles?: Role[];
  /** replace an existing identity in dir */
  force?: boolean;
  timeoutMs?: number;
}

export interface Enrolled {
  identity: Identity;
  files: { cert: string; key: string; ca: string };
}

const ENROLL_CODES = new Set<string>(['INSEL_CODE_MALFORMED', 'INSEL_CODE_UNKNOWN', 'INSEL_CODE_USED', 'INSEL_CODE_EXPIRED', 'INSEL_CODE_SCOPE', 'INSEL_CODE_PIN']);

export async function enrollWithCode(o: EnrollOptions): Promise<Enrolled> {
  const code = parseCode(o.code);
  const files = { cert: join(o.dir, 'cert.pem'), key: join(o.dir, 'key.pem'), ca: join(o.dir, 'ca.pem') };
  if (o.force !== true) {
    for (const f of Object.values(files)) if (existsSync(f)) throw new UsageError(`${f} exists: ${o.dir} holds an identity already; use another directory (or --force to replace it)`, { file: f });
  }
  const server = formatHostPort(o.server.host, o.server.port);
  const keys = await newKeyPair();
  const csr = await createCsr(keys, 'enrolling');
  const socket = await connectTls({ host: o.server.host, port: o.server.port, identity: {}, alpn: [ALPN_ENROLL], timeoutMs: o.timeoutMs ?? 10_000, what: o.role === 'site' ? 'HQ' : 'site gateway' });
  let answer: { cert: string; ca: string };
  let rootPem: string;
  try {
    rootPem = checkServer(socket, code.pin, o.serverRoles ?? (o.role === 'site' ? ['hq'] : ['site', 'hq']), server);
    answer = await requestOnce(socket, server, o.code.trim(), csr);
  } finally {
    socket.destroy();
  }
  const identity = checkAnswer(answer, rootPem, o.role, server);
  const spki = Buffer.from(await crypto.subtle.exportKey('spki', keys.publicKey));
  if (!identity.spki.equals(spki)) throw new EnrollError('INSEL_CODE_PIN', `${server} sent a certificate for another key; nothing was written`);
  mkdirSync(o.dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const force = o.force === true;
  writeFileAtomic(files.key, await privateKeyPem(keys.privateKey), { mode: KEY_MODE, force });
  writeFileAtomic(files.cert, answer.cert, { mode: PUBLIC_MODE, force });
  writeFileAtomic(files.ca, answer.ca, { mode: PUBLIC_MODE, force });
  return { identity: identity.id, files };
}

/** The pinned root (PEM) the server chains to, checked: else EnrollError INSEL_CODE_PIN, before the code is sent. */
function checkServer(socket: TLSSocket, pin: string, roles: Role[], server: string): string {
  const chain = peerChain(socket);
  const root = pinnedRoot(chain, pin);
  if (root === undefined) throw enrollRefusal('INSEL_CODE_PIN', `${server} does not chain to the CA with pin ${pin}`);
  const rootPem = encodePem(root, 'CERTIFICATE');
  try {
    verifyPeerChain(chain, trustFromPem(rootPem), roles, server);
  } catch (err) {
    if (!(err instanceof CertError)) throw err;
    throw enrollRefusal('INSEL_CODE_PIN', `${server} chains to the pinned CA but its certificate is refused: ${err.message}`);
  }
  return rootPem;
}

async function requestOnce(socket: TLSSocket, server: string, code: string, csr: string): Promise<{ cert: string; ca: string }> {
  const conn = new OrgClientConnection(socket, { peer: server });
  try {
    return await conn.request('enroll', { code, csr });
  } catch (err) {
    if (err instanceof OrgRefusedError && ENROLL_CODES.has(err.code)) throw new EnrollError(err.code as EnrollErrorCode, err.reason, { peer: server });
    if (err instanceof OrgRefusedError) throw new OrgRefusedError(err.code, `${server} refused the enrollment: ${err.reason}`, server);
    if (err instanceof WireError) throw new WireError(err.code, `${server} ended the enrollment without an answer: ${err.reason}; try again`);
    throw err;
  } finally {
    conn.close('INSEL_ORG_BYE', 'done');
  }
}

/** The answer's certificate: of the expected role, chaining to the pinned root, which the trust bundle must hold. */
function checkAnswer(answer: { cert: string; ca: string }, rootPem: string, role: 'site' | 'user', server: string): { id: Identity; spki: Buffer } {
  try {
    const pinned = trustFromPem(rootPem);
    const bundle = trustFromPem(answer.ca);
    if (!bundle.roots.some((r) => r.subject.equals(pinned.roots[0]!.subject) && r.cert.equal(pinned.roots[0]!.cert))) throw new Error('its trust bundle lacks the pinned CA');
    const id = verifyCertificateChain(answer.cert, pinned, [role]);
    const [der] = decodePem(answer.cert, 'CERTIFICATE', 'certificate');
    return { id, spki: Buffer.from(new x509.X509Certificate(toArrayBuffer(der!)).publicKey.rawData) };
  } catch (err) {
    throw new EnrollError('INSEL_CODE_PIN', `${server} answered with a certificate that does not fit: ${(err as Error).message}; nothing was written`, { peer: server, cause: err });
  }
}
