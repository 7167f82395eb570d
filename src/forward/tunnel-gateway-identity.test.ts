// Impersonating the gateway (issue 12, finding 5). A user forwards POP3
// through "the gateway"; whoever answers at --via with a certificate of our
// organization would read the password, unless the client checks that it is
// a server, the one it asked for, and not revoked. Each fake gateway here is
// the real Gateway class holding the wrong certificate, allowing everything:
// the client must refuse it before a byte of POP3 flows.
//
//   alice: insel forward -L → fake gateway (wrong cert) → POP3 server (loopback)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { revoke } from '../pki/crl.js';
import { issueCert } from '../pki/issue.js';
import { makeTestPki, type TestPki } from '../pki/testing.js';
import { ForwardError } from './errors.js';
import { parseForwardSpec } from './spec.js';
import { ALLOW_ALICE_LOOPBACK, insel, profiles, startForwarder, startGateway, tcpServer } from './testing.js';

/** A POP3 server that records every byte a client sends it. */
async function pop3(): Promise<{ port: number; heard: () => string; close(): Promise<void> }> {
  let heard = '';
  const srv = await tcpServer((s) => {
    s.on('data', (b: Buffer) => (heard += b.toString('utf8')));
    s.write('+OK POP3 ready\r\n');
  });
  return { port: srv.port, heard: () => heard, close: () => srv.close() };
}

interface Scene {
  pki: TestPki;
  dirs: ReturnType<typeof profiles>;
  mail: Awaited<ReturnType<typeof pop3>>;
}

/** A test PKI plus: site CA `branch2` and server `srv2` (named other.example), server `srv3` revoked; profiles exported after. */
async function scene(t: { after(fn: () => Promise<void>): void }): Promise<Scene> {
  const pki = await makeTestPki();
  await issueCert({ dir: pki.dir, role: 'site', name: 'branch2', hosts: ['127.0.0.1'] });
  await issueCert({ dir: pki.dir, role: 'server', name: 'srv2', hosts: ['other.example'] });
  await issueCert({ dir: pki.dir, role: 'server', name: 'srv3', hosts: ['127.0.0.1'] });
  await revoke({ dir: pki.dir, nameOrSerial: 'srv3', reason: 'keyCompromise' });
  const dirs = profiles(pki, ['alice', 'srv', 'hq', 'branch2', 'srv2', 'srv3']);
  const mail = await pop3();
  t.after(async () => {
    await mail.close();
    dirs.cleanup();
    pki.cleanup();
  });
  return { pki, dirs, mail };
}

/** alice's forward through a gateway holding `who`'s certificate; the refusal, or undefined if it was accepted. */
async function attempt(s: Scene, who: string, more: { gatewayName?: string } = {}): Promise<ForwardError | undefined> {
  const gw = await startGateway(s.dirs.dir, s.dirs.profile(who), ALLOW_ALICE_LOOPBACK);
  try {
    const fw = await startForwarder(gw.port, s.dirs.profile('alice'), [parseForwardSpec('L', `0:127.0.0.1:${s.mail.port}`)], more);
    await fw.close();
    return undefined;
  } catch (err) {
    assert.ok(err instanceof ForwardError, String(err));
    assert.equal(err.code, 'INSEL_GATEWAY');
    return err;
  } finally {
    await gw.close();
  }
}

test('a gateway with a site or hq certificate is refused: a gateway must have the server role', async (t) => {
  const s = await scene(t);
  for (const [who, role] of [['branch2', 'site'], ['hq', 'hq']] as const) {
    const err = await attempt(s, who, { gatewayName: who });
    assert.ok(err, `alice accepted a gateway holding the ${role} certificate of ${who}`);
    assert.match(err.message, new RegExp(`refusing gateway 127\\.0\\.0\\.1:\\d+: certificate of ${role} ${who} .*has role ${role}, but this end accepts only server`));
  }
  assert.equal(s.mail.heard(), '', 'nothing reached the POP3 server');
});

test('a gateway with another server\'s certificate is refused, naming what was expected and what came', async (t) => {
  const s = await scene(t);
  const err = await attempt(s, 'srv2');
  assert.ok(err, 'alice accepted srv2 as the gateway at 127.0.0.1');
  assert.match(err.message, /expected the server 127\.0\.0\.1 but 127\.0\.0\.1:\d+ presented server srv2 \(its --host names: other\.example\)/);
  assert.match(err.message, /--gateway-name srv2/);
  assert.match(err.message, /insel pki issue --role server --name srv2 --host 127\.0\.0\.1/);
  // A pinned name must be the one presented: srv's name does not let srv2 in.
  const pinned = await attempt(s, 'srv2', { gatewayName: 'srv' });
  assert.ok(pinned, 'alice accepted srv2 while pinned to srv');
  assert.match(pinned.message, /expected the server srv but .* presented server srv2/);
  // The owner of srv2 may pin it, by its insel name or by a --host name.
  assert.equal(await attempt(s, 'srv2', { gatewayName: 'srv2' }), undefined);
  assert.equal(await attempt(s, 'srv2', { gatewayName: 'other.example' }), undefined);
  assert.equal(await attempt(s, 'srv'), undefined, 'the right gateway, by its --host 127.0.0.1');
  assert.equal(s.mail.heard(), '', 'nothing reached the POP3 server');
});

test('insel forward --profile refuses a revoked server certificate (its crl.pem is read)', async (t) => {
  const s = await scene(t);
  const gw = await startGateway(s.dirs.dir, s.dirs.profile('srv3'), ALLOW_ALICE_LOOPBACK);
  t.after(() => gw.close());
  const cli = insel(['forward', '--profile', s.dirs.profile('alice'), '--via', `127.0.0.1:${gw.port}`, '-L', `0:127.0.0.1:${s.mail.port}`]);
  t.after(() => cli.kill());
  const line = await cli.line(/refusing gateway/);
  assert.match(line, /certificate of server srv3 .*is revoked \(serial [0-9a-f]+, since .*, reason keyCompromise\)/);
  assert.equal(await cli.exited, 1);
  assert.equal(s.mail.heard(), '', 'nothing reached the POP3 server');
});
