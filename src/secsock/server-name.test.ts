// A SecSockets client that names the server it wants (serverName) refuses
// another server of the organization, as `insel forward -U` does for the
// gateway's UDP channels; and it refuses a stale CRL unless told otherwise.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeCrl } from '../pki/crl.js';
import { CertError, PkiError } from '../pki/errors.js';
import { issueCert } from '../pki/issue.js';
import { loadProfile } from '../pki/profile.js';
import { makeTestPki, type TestPki } from '../pki/testing.js';
import { connect } from './client.js';
import { SecServer } from './server.js';

let pki: TestPki;
before(async () => {
  pki = await makeTestPki();
  await issueCert({ dir: pki.dir, role: 'server', name: 'srv2', hosts: ['other.example'] });
});
after(() => pki.cleanup());

/** Connects alice (as `insel forward -U` does: role server, a server name) to a UDP SecServer holding `who`'s identity. */
async function attempt(who: string, client: { serverName?: string; allowStaleCrl?: boolean; crl?: string }): Promise<Error | undefined> {
  const srv = await SecServer.listen({ transport: 'udp', identity: pki.profile(who), peerRoles: ['user'] });
  srv.on('handshakeError', () => undefined);
  try {
    const alice = pki.profile('alice');
    const ch = await connect({
      transport: 'udp',
      host: '127.0.0.1',
      port: srv.port,
      identity: { ...alice, ...(client.crl === undefined ? {} : { crl: client.crl }) },
      peerRoles: ['server'],
      ...(client.serverName === undefined ? {} : { serverName: client.serverName }),
      ...(client.allowStaleCrl === undefined ? {} : { allowStaleCrl: client.allowStaleCrl }),
    });
    await ch.close();
    return undefined;
  } catch (err) {
    return err as Error;
  } finally {
    await srv.close();
  }
}

describe('serverName', () => {
  it('refuses a server whose certificate lacks the name, saying which it has', async () => {
    const err = await attempt('srv2', { serverName: '127.0.0.1' });
    assert.ok(err instanceof CertError, String(err));
    assert.equal(err.code, 'INSEL_CERT_WRONG_NAME');
    assert.match(err.message, /expected the server 127\.0\.0\.1 but .* presented server srv2 \(its --host names: other\.example\); .*set serverName to srv2/);
  });
  it('accepts the insel name or a --host name', async () => {
    assert.equal(await attempt('srv2', { serverName: 'srv2' }), undefined);
    assert.equal(await attempt('srv2', { serverName: 'OTHER.example' }), undefined);
    assert.equal(await attempt('srv', { serverName: '127.0.0.1' }), undefined);
  });
});

describe('stale CRL', () => {
  it('is refused before connecting, unless allowStaleCrl', async () => {
    await writeCrl({ dir: pki.dir, now: new Date(Date.now() - 400 * 24 * 3600_000) });
    const stale = loadProfile(pki.dir, 'alice').crl!;
    await writeCrl({ dir: pki.dir });
    const err = await attempt('srv', { crl: stale });
    assert.ok(err instanceof PkiError, String(err));
    assert.equal(err.code, 'INSEL_CRL_STALE');
    assert.match(err.message, /is stale: the root CA's CRL was issued .* and due for renewal by .*; refresh it .* or set allowStaleCrl/);
    assert.equal(await attempt('srv', { crl: stale, allowStaleCrl: true }), undefined);
  });
});
