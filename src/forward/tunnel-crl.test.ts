// The client's CRL (issue 12, finding 5): a CRL past its nextUpdate is
// refused unless accepted with a warning; a client refreshes its CRL from the
// gateway it connects to (GET /insel/v1/crl) and from then on refuses a
// revoked server that hands out an old CRL; a forged CRL is refused and not
// stored.
//
//   alice (old crl.pem) ──▶ gateway srv (new crl.pem)      refresh
//   alice               ──▶ fake gateway srv4 (revoked, serving the old CRL)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createTlsServer } from 'node:tls';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MUX_ALPN, MuxSession, type MuxHeaders, type MuxStream } from '../mux/index.js';
import { initCa } from '../pki/ca.js';
import { revoke, writeCrl } from '../pki/crl.js';
import { exportProfile } from '../pki/export.js';
import { issueCert } from '../pki/issue.js';
import { decodePem, encodePem } from '../pki/pem.js';
import { makeTestPki } from '../pki/testing.js';
import { trustFromPem } from '../pki/trust.js';
import { ForwardError } from './errors.js';
import { profileFiles, readIdentityFiles } from '../config/identity.js';
import { ForwardSession } from './session.js';
import { parseForwardSpec } from './spec.js';
import { ALLOW_ALICE_LOOPBACK, echoServer, insel, profiles, startForwarder, startGateway } from './testing.js';

const DAY_MS = 24 * 3600_000;

test('a stale CRL is refused by default; --allow-stale-crl accepts it with a warning', async (t) => {
  const pki = await makeTestPki();
  t.after(() => pki.cleanup());
  // Signed 400 days ago, valid for 365: stale for 35 days, at the client and at the gateway.
  await writeCrl({ dir: pki.dir, now: new Date(Date.now() - 400 * DAY_MS) });
  const dirs = profiles(pki, ['alice', 'srv']);
  t.after(() => dirs.cleanup());
  const target = await echoServer();
  t.after(() => target.close());
  const gw = await startGateway(dirs.dir, dirs.profile('srv'), ALLOW_ALICE_LOOPBACK);
  t.after(() => gw.close());
  assert.ok(gw.logs.some((l) => l.level === 40 && /CRL is stale/.test(String(l.msg))), 'the gateway warns about its own stale CRL');

  const args = ['forward', '--profile', dirs.profile('alice'), '--via', `127.0.0.1:${gw.port}`, '-L', `0:127.0.0.1:${target.port}`];
  const strict = insel(args);
  t.after(() => strict.kill());
  const refusal = await strict.line(/refusing gateway/);
  assert.match(refusal, new RegExp(`the CRL in ${dirs.profile('alice')}/crl\\.pem is stale: .*due for renewal by \\d{4}-\\d\\d-\\d\\dT[\\d:]+Z \\(now .*--allow-stale-crl`));
  assert.equal(await strict.exited, 1);

  const lax = insel([...args, '--allow-stale-crl']);
  t.after(() => lax.kill());
  await lax.line(/session with gateway .* established/);
  assert.ok(lax.err.some((l) => /crl\.pem is stale: .*\(accepted: stale CRLs are allowed/.test(l)), lax.err.join('\n'));

  // insel pki crl re-signs it; the gateway hands it out and the strict client takes it.
  await writeCrl({ dir: pki.dir });
  copyFileSync(join(pki.dir, 'crl.pem'), join(dirs.profile('srv'), 'crl.pem'));
  gw.reload(ALLOW_ALICE_LOOPBACK);
  const refreshed = insel(args);
  t.after(() => refreshed.kill());
  await refreshed.line(/session with gateway .* established/);
  assert.equal(readFileSync(join(dirs.profile('alice'), 'crl.pem'), 'utf8'), readFileSync(join(pki.dir, 'crl.pem'), 'utf8'));
});

test('CRL refresh: a client with an old CRL takes the gateway\'s newer one, then refuses a revoked server', async (t) => {
  const pki = await makeTestPki();
  t.after(() => pki.cleanup());
  const { serial } = (await issueCert({ dir: pki.dir, role: 'server', name: 'srv4', hosts: ['127.0.0.1'] })).record;
  const dirs = profiles(pki, ['alice', 'srv4']); // alice and srv4 hold the CRL without srv4's revocation
  t.after(() => dirs.cleanup());
  const oldCrl = readFileSync(join(dirs.profile('alice'), 'crl.pem'), 'utf8');
  // thisUpdate has whole seconds: sign the new CRL visibly later.
  await revoke({ dir: pki.dir, nameOrSerial: 'srv4', reason: 'keyCompromise', now: new Date(Date.now() + 2000) });
  exportProfile({ dir: pki.dir, name: 'srv', out: dirs.profile('srv') });
  const target = await echoServer();
  t.after(() => target.close());
  const srv4 = await startGateway(dirs.dir, dirs.profile('srv4'), ALLOW_ALICE_LOOPBACK);
  t.after(() => srv4.close());
  const srv = await startGateway(dirs.dir, dirs.profile('srv'), ALLOW_ALICE_LOOPBACK);
  t.after(() => srv.close());
  const forward = [parseForwardSpec('L', `0:127.0.0.1:${target.port}`)];

  // The attack: with the CRL it holds, alice cannot tell srv4 is revoked.
  const fooled = await startForwarder(srv4.port, dirs.profile('alice'), forward);
  await fooled.close();
  assert.equal(readFileSync(join(dirs.profile('alice'), 'crl.pem'), 'utf8'), oldCrl, 'srv4 handed out nothing newer');

  const fw = await startForwarder(srv.port, dirs.profile('alice'), forward);
  await fw.close();
  const stored = readFileSync(join(dirs.profile('alice'), 'crl.pem'), 'utf8');
  assert.notEqual(stored, oldCrl, 'alice stored the gateway\'s newer CRL');
  assert.ok(trustFromPem(pki.profile('srv').ca, stored).crls.some((c) => c.revoked.has(serial)), 'the stored CRL lists srv4');

  await assert.rejects(startForwarder(srv4.port, dirs.profile('alice'), forward), (err: unknown) => {
    assert.ok(err instanceof ForwardError && err.code === 'INSEL_GATEWAY', String(err));
    assert.match(err.message, /certificate of server srv4 .*is revoked .*reason keyCompromise/);
    return true;
  });
});

test('a forged CRL from the gateway is refused and not stored: tampered, or signed by a look-alike root', async (t) => {
  const pki = await makeTestPki();
  t.after(() => pki.cleanup());
  const dirs = profiles(pki, ['alice', 'srv']);
  t.after(() => dirs.cleanup());
  const aliceCrl = join(dirs.profile('alice'), 'crl.pem');
  const held = readFileSync(aliceCrl, 'utf8');

  // 1. the real root CRL, signed a minute later, one byte of its signature flipped
  await writeCrl({ dir: pki.dir, now: new Date(Date.now() + 60_000) });
  const der = decodePem(readFileSync(join(pki.dir, 'crl.pem'), 'utf8'), 'X509 CRL', 'crl.pem')[0]!;
  der[der.length - 3]! ^= 0x01;
  const tampered = encodePem(der, 'X509 CRL');
  // 2. a root of the same name and org, another key: its CRL names our root as issuer
  const other = mkdtempSync(join(tmpdir(), 'insel-lookalike-'));
  t.after(() => rmSync(other, { recursive: true, force: true }));
  await initCa({ dir: other, org: 'Test' });
  await writeCrl({ dir: other, now: new Date(Date.now() + 60_000) });
  const lookalike = readFileSync(join(other, 'crl.pem'), 'utf8');

  const target = await echoServer();
  t.after(() => target.close());
  for (const [what, forged] of [['tampered', tampered], ['look-alike', lookalike]] as const) {
    writeFileSync(join(dirs.profile('srv'), 'crl.pem'), forged);
    const gw = await startGateway(dirs.dir, dirs.profile('srv'), ALLOW_ALICE_LOOPBACK);
    try {
      const fw = await startForwarder(gw.port, dirs.profile('alice'), [parseForwardSpec('L', `0:127.0.0.1:${target.port}`)]);
      await fw.close();
      assert.ok(
        fw.warn.some((l) => /ignoring the CRL from gateway 127\.0\.0\.1:\d+: CRL 1 .*is signed neither by our root CA nor by a site CA it certified: refused, nothing stored/.test(l)),
        `${what}: ${fw.warn.join('\n')}`,
      );
    } finally {
      await gw.close();
    }
    assert.equal(readFileSync(aliceCrl, 'utf8'), held, `${what}: alice's crl.pem is unchanged`);
  }
});

test('a gateway that stalls its CRL body holds the session start only until the request deadline', async (t) => {
  const pki = await makeTestPki();
  t.after(() => pki.cleanup());
  const dirs = profiles(pki, ['alice', 'srv']);
  t.after(() => dirs.cleanup());
  // A bare insel/1 server with the real gateway certificate: answers info, never ends the CRL body.
  const srv = pki.profile('srv');
  const sessions = new Set<MuxSession>();
  const server = createTlsServer({ key: srv.key, cert: srv.cert, ca: srv.ca, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.3', ALPNProtocols: [MUX_ALPN] }, (socket) => {
    const mux = new MuxSession(socket, { side: 'server' });
    sessions.add(mux);
    mux.on('stream', (stream: MuxStream, headers: MuxHeaders) => {
      stream.on('error', () => undefined);
      stream.respond({ ':status': '200' });
      if (headers[':path'] === '/insel/v1/info') return void stream.end('{"udpChannelTcpPort":null}');
      if (headers[':path'] === '/insel/v1/crl') stream.write('-----BEGIN X509 CRL-----\n');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(
    () =>
      new Promise<void>((r) => {
        for (const s of sessions) s.destroy(); // the client's half-open session too, if it hung
        server.close(() => r());
      }),
  );
  const port = (server.address() as { port: number }).port;
  const warnings: string[] = [];
  let timer: NodeJS.Timeout | undefined;
  const session = await Promise.race([
    ForwardSession.open({ via: { host: '127.0.0.1', port }, identity: readIdentityFiles(profileFiles(dirs.profile('alice'))), timeoutMs: 500, warn: (l) => warnings.push(l) }),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('the session start hung on the stalled CRL body')), 10_000))),
  ]).finally(() => clearTimeout(timer));
  session.destroy();
  assert.ok(warnings.some((l) => /cannot refresh the CRL from gateway 127\.0\.0\.1:\d+: its CRL bundle did not arrive within 500 ms/.test(l)), warnings.join('\n'));
});
