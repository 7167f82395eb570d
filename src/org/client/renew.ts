// `insel renew`: a new certificate for the user, from the root that signs
// now (after `insel hq ca rollover`, before the old root is retired; or as
// the certificate nears its end). A new key is made here and never leaves;
// its CSR goes to the user's site gateway over the user's own session
// (mutual TLS: the site knows who asks from the certificate, not from the
// CSR) and on to HQ (`renew-user`), which takes name, site and groups from
// its registry. The session also refreshes ca.pem (session.ts), so the
// answer's bundle must keep a root held (pki/bundle-refresh.ts). Checked
// before anything is written: a user certificate for our new key, of the
// same name and site, under that bundle. Then key.pem (0600), cert.pem and
// ca.pem are each replaced atomically, the key first: a crash between the
// two renames leaves a pair that does not match, and loading the profile
// says so (log in again).
import { profileFiles } from '../../config/identity.js';
import { ForwardError } from '../../forward/errors.js';
import { readAll } from '../../forward/session.js';
import { mergeBundle } from '../../pki/bundle-refresh.js';
import { newKeyPair, privateKeyPem } from '../../pki/certgen.js';
import { parseCert, type ParsedCert } from '../../pki/chain.js';
import { createCsr } from '../../pki/csr.js';
import type { Identity } from '../../pki/identity.js';
import { decodePem } from '../../pki/pem.js';
import { KEY_MODE, PUBLIC_MODE, writeFileAtomic } from '../../pki/store.js';
import { trustFromPem } from '../../pki/trust.js';
import { verifyCertificateChain } from '../../pki/verify.js';
import { H_CSR, PATH_RENEW } from '../site/protocol.js';
import type { UserProfile } from './profile.js';
import { openSiteSession } from './session.js';

/** {cert, ca}: a certificate and a trust bundle, far below this */
const MAX_ANSWER = 1 << 20;

export async function renewCertificate(p: UserProfile, warn: (line: string) => void): Promise<Identity> {
  const keys = await newKeyPair();
  const asked = await askSite(p, await createCsr(keys, 'renewing'), warn);
  const spki = Buffer.from(await crypto.subtle.exportKey('spki', keys.publicKey));
  const renewed = checkAnswer(p, asked.body, asked.held, spki);
  const files = profileFiles(p.dir);
  writeFileAtomic(files.keyFile, await privateKeyPem(keys.privateKey), { mode: KEY_MODE, force: true });
  writeFileAtomic(files.certFile, renewed.cert, { mode: PUBLIC_MODE, force: true });
  if (renewed.ca !== asked.held) writeFileAtomic(files.caFile, renewed.ca, { mode: PUBLIC_MODE, force: true });
  return renewed.id;
}

/** The site's answer to the CSR, and the trust bundle held after the session refreshed it. Refusals are GatewayRefusedError with the site's (or HQ's) code and reason. */
async function askSite(p: UserProfile, csr: string, warn: (line: string) => void): Promise<{ body: Buffer; held: string }> {
  const session = await openSiteSession(p, warn);
  try {
    const answer = await session.request({ ':method': 'POST', ':path': PATH_RENEW, [H_CSR]: csr }, true);
    return { body: await readAll(answer.stream, MAX_ANSWER), held: session.ca ?? p.identity.ca };
  } finally {
    session.close();
  }
}

/** The renewed certificate, checked, with the bundle to hold; ForwardError INSEL_GATEWAY saying what does not fit. */
function checkAnswer(p: UserProfile, body: Buffer, held: string, spki: Buffer): { id: Identity; cert: string; ca: string } {
  const where = `site gateway ${p.site}`;
  try {
    const answer = JSON.parse(body.toString('utf8')) as { cert: string; ca: string };
    const ca = mergeBundle(held, answer.ca, where, p.caFile)?.pem ?? held;
    const id = verifyCertificateChain(answer.cert, trustFromPem(ca), ['user']);
    const old = leafOf(p.identity.cert)?.identity;
    if (id.name !== old?.name || id.site !== old.site) throw new Error(`it is for ${id.name} of site ${id.site ?? '?'}, not ${old?.name ?? '?'} of site ${old?.site ?? '?'}`);
    if (!Buffer.from(leafOf(answer.cert)!.cert.publicKey.rawData).equals(spki)) throw new Error('it is for another key');
    return { id, cert: answer.cert, ca };
  } catch (err) {
    throw new ForwardError('INSEL_GATEWAY', `${where} answered the renewal with a certificate that does not fit: ${(err as Error).message}; nothing was written`, { peer: where, cause: err });
  }
}

function leafOf(certPem: string): ParsedCert | undefined {
  const [der] = decodePem(certPem, 'CERTIFICATE', 'certificate');
  return der === undefined ? undefined : parseCert(der);
}
