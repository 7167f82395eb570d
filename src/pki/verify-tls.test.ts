// verifyPeer over real TLS on 127.0.0.1: node tls with requestCert and
// rejectUnauthorized: false on both ends, verifyPeer deciding at each end.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { CertError } from './errors.js';
import { ROLES, type Identity, type Role } from './identity.js';
import { revoke } from './crl.js';
import { pkiPaths } from './store.js';
import { makeTestPki, type TestPki } from './testing.js';
import { loadTrust, trustFromPem, type Trust } from './trust.js';
import { verifyPeer } from './verify.js';

let pki: TestPki;
before(async () => {
  pki = await makeTestPki();
});
after(() => pki.cleanup());

interface Creds {
  cert?: string;
  key?: string;
  ca: string;
}
interface End {
  creds: Creds;
  trust: Trust;
  roles: readonly Role[];
}
type Verdict = Identity | CertError;

function judge(socket: TLSSocket, end: End): Verdict {
  try {
    return verifyPeer(socket, end.trust, end.roles);
  } catch (err) {
    if (err instanceof CertError) return err;
    throw err;
  }
}

/** One handshake; each end's verifyPeer verdict on the other. */
async function handshake(server: End, client: End): Promise<{ server: Verdict; client: Verdict }> {
  const srv = createServer({ ...server.creds, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.3' });
  const serverVerdict = new Promise<Verdict>((resolve) =>
    srv.once('secureConnection', (s: TLSSocket) => {
      resolve(judge(s, server));
      s.end();
    }),
  );
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  try {
    const c = connect({ host: '127.0.0.1', port: (srv.address() as AddressInfo).port, ...client.creds, rejectUnauthorized: false, checkServerIdentity: () => undefined });
    const clientVerdict = await new Promise<Verdict>((resolve, reject) => {
      c.once('secureConnect', () => resolve(judge(c, client)));
      c.once('error', reject);
    });
    const result = { server: await serverVerdict, client: clientVerdict };
    c.destroy();
    return result;
  } finally {
    srv.close();
  }
}

/** TLS gets cert, key and ca only: revocation is verifyPeer's job (see IdentityPem.crl). */
const creds = ({ cert, key, ca }: Creds): Creds => ({ cert, key, ca });
const end = (name: string, roles: readonly Role[] = ROLES, trust: Trust = pki.trust): End => ({ creds: creds(pki.profile(name)), trust, roles });

function accepted(v: Verdict, name: string): Identity {
  assert.ok(!(v instanceof Error), `expected ${name} to be accepted, got ${v instanceof Error ? v.message : ''}`);
  assert.equal(v.name, name);
  return v;
}

function refusedWith(v: Verdict, code: string, text: RegExp): void {
  assert.ok(v instanceof CertError, `expected a CertError ${code}, got ${JSON.stringify(v)}`);
  assert.equal(v.code, code, v.message);
  assert.match(v.message, text);
  assert.match(v.peer ?? '', /^127\.0\.0\.1:\d+$/);
}

describe('verifyPeer over TLS', () => {
  it('accepts good certificates at both ends', async () => {
    const r = await handshake(end('srv', ['user', 'client']), end('alice', ['server']));
    assert.equal(accepted(r.server, 'alice').role, 'user');
    assert.equal(accepted(r.client, 'srv').role, 'server');
  });

  it('accepts a site user, at the root-issued server and at its site gateway', async () => {
    const r = await handshake(end('srv'), end('bob'));
    assert.equal(accepted(r.server, 'bob').site, 'branch');
    const g = await handshake(end('branch', ['user']), end('bob', ['site']));
    accepted(g.server, 'bob');
    assert.equal(accepted(g.client, 'branch').role, 'site');
  });

  it('refuses a revoked certificate', async () => {
    const r = await handshake(end('srv'), end('mallory'));
    refusedWith(r.server, 'INSEL_CERT_REVOKED', /^certificate of user mallory \(peer 127\.0\.0\.1:\d+\) is revoked \(serial [0-9a-f]+, since .*reason keyCompromise\)/);
    accepted(r.client, 'srv');
  });

  it('refuses the users of a revoked site CA', async () => {
    const t = await makeTestPki();
    try {
      await revoke({ dir: t.dir, nameOrSerial: 'branch' });
      const trust = loadTrust({ caFile: pkiPaths(t.dir).caCert, crlFile: pkiPaths(t.dir).crl });
      const r = await handshake({ creds: creds(t.profile('srv')), trust, roles: ROLES }, { creds: creds(t.profile('bob')), trust, roles: ROLES });
      refusedWith(r.server, 'INSEL_CERT_REVOKED', /certificate of user bob \(peer .*\) was issued by site CA branch, which is revoked/);
    } finally {
      t.cleanup();
    }
  });

  it('refuses an expired certificate', async () => {
    const r = await handshake(end('srv'), end('old'));
    refusedWith(r.server, 'INSEL_CERT_EXPIRED', /^certificate of user old \(peer .*\) expired on/);
  });

  it('refuses a foreign CA at both ends', async () => {
    const foreignTrust = trustFromPem(pki.foreign.ca);
    const r = await handshake(end('srv'), { creds: pki.foreign, trust: foreignTrust, roles: ROLES });
    refusedWith(r.server, 'INSEL_CERT_UNKNOWN_CA', /certificate of user eve \(peer .*\) chains to "CN=insel root CA, O=Other", which is not a trusted CA/);
    refusedWith(r.client, 'INSEL_CERT_UNKNOWN_CA', /certificate of server srv \(peer .*\) .*not a trusted CA/);
    // the foreign certificate presented with our CA as its `ca` (so it sends no foreign root)
    const r2 = await handshake(end('srv'), { creds: { ...pki.foreign, ca: pki.profile('srv').ca }, trust: pki.trust, roles: ROLES });
    refusedWith(r2.server, 'INSEL_CERT_UNKNOWN_CA', /certificate of user eve .* was issued by "CN=insel root CA, O=Other"/);
  });

  it('refuses a wrong role at either end', async () => {
    const r = await handshake(end('srv', ['user']), end('carol', ['hq']));
    refusedWith(r.server, 'INSEL_CERT_WRONG_ROLE', /^certificate of client carol \(peer .*\) has role client, but this end accepts only user/);
    refusedWith(r.client, 'INSEL_CERT_WRONG_ROLE', /^certificate of server srv \(peer .*\) has role server, but this end accepts only hq/);
  });

  it('refuses a client without a certificate', async () => {
    const r = await handshake(end('srv'), { creds: { ca: pki.profile('srv').ca }, trust: pki.trust, roles: ROLES });
    refusedWith(r.server, 'INSEL_CERT_MISSING', /^peer 127\.0\.0\.1:\d+ presented no certificate/);
    accepted(r.client, 'srv');
  });
});
