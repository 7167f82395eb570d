// A site CA's key is on the branch host (its profile). Whoever holds it mints
// certificates directly (the project's certgen, as an attacker would, past
// `insel pki issue`'s checks) and tries them on a real gateway:
//
//   forged "alice" of branch   rule user:alice   -> refused (she is alice@branch)
//                              rule user:alice@branch -> through, logged as alice@branch
//   forged member of "admins"  rule group:admins -> the certificate itself is refused
//
// The root's alice still gets through user:alice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSiteSigner } from '../pki/ca.js';
import { certPem, createCert, newKeyPair, privateKeyPem } from '../pki/certgen.js';
import { pkiPaths, readIndex } from '../pki/store.js';
import { makeTestPki, type TestPki } from '../pki/testing.js';
import { profileFiles, readIdentityFiles } from '../config/identity.js';
import { askBody, rawMux } from './mux-testing.js';
import { PATH_INFO } from './protocol.js';
import { parseForwardSpec } from './spec.js';
import { echoServer, profiles, startForwarder, startGateway, until } from './testing.js';

/** A profile directory for a certificate site CA branch signs for `name` with `groups`, written into `dir`. */
async function mintWithBranchKey(pki: TestPki, dir: string, name: string, groups: string[]): Promise<string> {
  const paths = pkiPaths(pki.dir);
  const { signer: branch } = await loadSiteSigner(paths, readIndex(paths), 'branch', new Date());
  const keys = await newKeyPair();
  const validity = { notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 86_400_000) };
  const cert = await createCert({ org: 'Test', role: 'user', name, site: 'branch', groups }, keys.publicKey, branch, validity);
  const out = join(dir, `forged-${name}`);
  mkdirSync(out, { mode: 0o700 });
  writeFileSync(join(out, 'cert.pem'), certPem(cert) + certPem(branch.cert));
  writeFileSync(join(out, 'key.pem'), await privateKeyPem(keys.privateKey), { mode: 0o600 });
  writeFileSync(join(out, 'ca.pem'), readFileSync(paths.caCert));
  writeFileSync(join(out, 'crl.pem'), readFileSync(paths.crl));
  return out;
}

/** Echoes `text` through a forward's local port; resolves with what came back before the close (bounded by the echo length). */
function echoVia(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const s: Socket = connect({ host: '127.0.0.1', port });
    let got = '';
    s.on('error', () => undefined);
    s.on('data', (b: Buffer) => {
      got += b.toString('utf8');
      if (got.length >= text.length) s.destroy();
    });
    s.once('close', () => resolve(got));
    s.write(text);
  });
}

/** GET /insel/v1/info with the profile in `dir`: the identity the gateway sees. */
async function info(port: number, dir: string): Promise<{ identity: Record<string, unknown> }> {
  const c = await rawMux(port, readIdentityFiles(profileFiles(dir)));
  try {
    return JSON.parse((await askBody(c.mux, { ':method': 'GET', ':path': PATH_INFO })).body) as { identity: Record<string, unknown> };
  } finally {
    c.mux.destroy();
  }
}

const rule = (who: string, port: number) => `[[allow]]\nname = "echo for ${who}"\nwho = ["${who}"]\nto = ["127.0.0.1"]\nports = ["${port}"]\n`;

test('a site CA cannot impersonate the root\'s alice: user:alice refuses its "alice", user:alice@branch admits her', async (t) => {
  const pki = await makeTestPki();
  const p = profiles(pki, ['srv', 'alice']);
  const target = await echoServer();
  const forged = await mintWithBranchKey(pki, p.dir, 'alice', []);
  const tg = await startGateway(p.dir, p.profile('srv'), rule('user:alice', target.port));
  const forwarders: { close(): Promise<void> }[] = [];
  t.after(async () => {
    for (const f of forwarders) await f.close();
    await tg.close();
    await target.close();
    p.cleanup();
    pki.cleanup();
  });
  const spec = () => [parseForwardSpec('L', `0:127.0.0.1:${target.port}`)];

  // the root's alice: through
  const real = await startForwarder(tg.port, p.profile('alice'), spec());
  forwarders.push(real);
  assert.equal(await echoVia(real.ports[0]!, 'root alice'), 'root alice');

  // the site's "alice": refused by user:alice, with her scope in the reason and the log
  const fake = await startForwarder(tg.port, forged, spec());
  forwarders.push(fake);
  assert.equal(await echoVia(fake.ports[0]!, 'forged alice'), '');
  await until(() => fake.warn.some((l) => l.includes('refused')), 'the forged alice to be refused');
  assert.match(fake.warn.join('\n'), /refused: no policy rule lets user alice@branch \(site branch\) connect to tcp 127\.0\.0\.1/);
  const denied = tg.logs.find((l) => l.msg === 'denied');
  assert.equal(denied?.who, 'alice@branch');
  assert.deepEqual((await info(tg.port, forged)).identity, { name: 'alice', issuer: 'branch', role: 'user', site: 'branch', groups: [] });
  assert.equal((await info(tg.port, p.profile('alice'))).identity.issuer, null);

  // user:alice@branch is the rule that admits the site's alice
  tg.reload(rule('user:alice@branch', target.port));
  assert.equal(await echoVia(fake.ports[0]!, 'branch alice'), 'branch alice');
  await until(() => tg.logs.some((l) => l.msg === 'connection' && l.who === 'alice@branch'), 'the connection line of alice@branch');
  assert.equal(await echoVia(real.ports[0]!, 'root alice again'), '', 'and user:alice@branch does not admit the root\'s alice');
});

test('a site CA cannot grant itself a group: its certificate claiming group admins is refused at the gateway', async (t) => {
  const pki = await makeTestPki();
  const p = profiles(pki, ['srv']);
  const target = await echoServer();
  const forged = await mintWithBranchKey(pki, p.dir, 'mallet', ['admins']);
  const tg = await startGateway(p.dir, p.profile('srv'), rule('group:admins', target.port));
  t.after(async () => {
    await tg.close();
    await target.close();
    p.cleanup();
    pki.cleanup();
  });
  const attempt = startForwarder(tg.port, forged, [parseForwardSpec('L', `0:127.0.0.1:${target.port}`)]).then(async (f) => {
    await f.close();
    throw new Error('the gateway admitted the forged member of admins');
  });
  await assert.rejects(attempt, (err: Error) => {
    assert.match(err.message, /certificate of user mallet \(peer [^)]+\) claims group admins, but site CA branch may not grant group admins \(it may grant no groups\)/);
    return true;
  });
  assert.ok(!tg.logs.some((l) => l.msg === 'connection'), 'nothing was forwarded');
});
