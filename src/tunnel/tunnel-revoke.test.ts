// Revocation, with the real CLI: `insel pki revoke`, the new crl.pem into
// the server's profile, SIGHUP. A connected client is cut at once (its
// traffic stops, its log says why) and its reconnects are refused, while
// another client stays up; a client revoked before it connects is refused
// with the reason and the CLI exits non-zero.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { type NetnsLab, netnsMissing } from '../hostnet/netns-testing.js';
import { insel, startTunnel, type TunnelPki } from './tunnel-testing.js';
import { caClientConfig, caLab, caServerConfig, startCaClient, startCaServer, tcpConnects, waitForCount } from './tunnel-e2e-testing.js';

const skip = netnsMissing();
const NAMES = ['alice', 'bob', 'carol'] as const;
type Name = (typeof NAMES)[number];

let lab: NetnsLab;
let srv: string;
let ns: Record<Name, string>;
let dir: string;
let pki: TunnelPki;

before(async () => {
  if (skip === undefined) ({ lab, srv, clients: ns, dir, pki } = await caLab('tunrevoke', NAMES));
});

after(async () => {
  if (lab !== undefined) await lab.cleanup();
});

/** Revokes `name` in the PKI and gives the server its new CRL (the profile's crl.pem). */
async function revoke(name: Name): Promise<void> {
  await insel(['pki', 'revoke', name, '--dir', pki.dir]);
  copyFileSync(join(pki.dir, 'crl.pem'), join(pki.profile['vpn'] as string, 'crl.pem'));
}

test('a revoked client is cut at the SIGHUP and refused after; another stays up; one revoked before it connects is refused and exits non-zero', { skip, timeout: 60_000 }, async () => {
  const server = await startCaServer(lab, srv, caServerConfig(dir, pki.profile['vpn'] as string));
  const alice = await startCaClient(lab, ns.alice, caClientConfig(dir, 'alice', pki.profile['alice'] as string));
  const bob = await startCaClient(lab, ns.bob, caClientConfig(dir, 'bob', pki.profile['bob'] as string));
  await lab.whoamiServer(srv, 7200);
  assert.match(await lab.tcpRead(ns.alice, '10.8.0.1', 7200), /^::ffff:10\.8\.0\.\d+$/, 'alice reaches the server');

  await revoke('alice');
  server.child.kill('SIGHUP');
  await server.waitFor(/reloaded the CA and CRL: 1 client\(s\) cut/, 5000);
  const lost = await alice.waitFor(/session lost/, 5000);
  assert.match(lost, /your certificate is no longer accepted/, 'the client is told why');
  assert.match(lost, /revoked/i, 'and that it is revoked');
  assert.equal(await tcpConnects(lab, ns.alice, '10.8.0.1', 7200), false, "alice's traffic stops");
  assert.match(await lab.tcpRead(ns.bob, '10.8.0.1', 7200), /^::ffff:10\.8\.0\.\d+$/, 'bob is still connected');

  // alice keeps trying (a running client does not give up); every attempt is refused.
  await waitForCount(alice, /cannot reach 192\.168\.77\.1:443: .*revoked/i, 1, 10_000);
  // Refusals before authentication are summed up per interval (10 s), never logged one by one.
  await waitForCount(server, /unauthenticated connections closed: .*INSEL_CERT_REVOKED/, 1, 15_000);
  assert.doesNotMatch(alice.output().split(/session lost/)[1] ?? '', /connected to /, 'alice never gets a session again');
  assert.equal(await alice.stop(), 0);

  // carol is revoked before she ever connects: the first attempt's refusal ends the CLI.
  await revoke('carol');
  server.child.kill('SIGHUP');
  await waitForCount(server, /reloaded the CA and CRL/, 2, 5000);
  const carol = startTunnel(lab, ns.carol, caClientConfig(dir, 'carol', pki.profile['carol'] as string));
  const [code] = (await once(carol.child, 'exit')) as [number | null];
  assert.notEqual(code, 0, `carol's CLI exits non-zero: ${carol.output()}`);
  assert.notEqual(code, null, `by itself, not a signal: ${carol.output()}`);
  assert.match(carol.output(), /revoked/i, 'it says the certificate is revoked');
  assert.equal(await bob.stop(), 0);
});
