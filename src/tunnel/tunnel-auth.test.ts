// Username/password on top of certificates, by the real CLI: the server's
// `auth-users` file made with `insel tunnel passwd`, the client's
// `auth-user-pass` file. The right password connects; a wrong one is
// refused with the reason in the client's output, and the client exits
// non-zero.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../hostnet/exec.js';
import { type NetnsLab, netnsMissing } from '../hostnet/netns-testing.js';
import { CLI, startTunnel, type TunnelPki } from './tunnel-testing.js';
import { caClientConfig, caLab, caServerConfig, startCaClient, startCaServer } from './tunnel-e2e-testing.js';

const skip = netnsMissing();
const NAMES = ['alice', 'bob'] as const;

let lab: NetnsLab;
let srv: string;
let ns: Record<(typeof NAMES)[number], string>;
let dir: string;
let pki: TunnelPki;

before(async () => {
  if (skip === undefined) ({ lab, srv, clients: ns, dir, pki } = await caLab('tunauth', NAMES));
});

after(async () => {
  if (lab !== undefined) await lab.cleanup();
});

/** The client's auth-user-pass file: a username line and a password line, mode 0600. */
function credentials(name: string, user: string, password: string): string {
  const file = join(dir, `${name}.pass`);
  writeFileSync(file, `${user}\n${password}\n`, { mode: 0o600 });
  return file;
}

test('auth-users: the right password connects, a wrong one is refused with the reason and the client exits non-zero', { skip, timeout: 60_000 }, async () => {
  const users = join(dir, 'users');
  await run(process.execPath, [CLI, 'tunnel', 'passwd', users, 'alice'], { input: 'correct horse\n' });
  await run(process.execPath, [CLI, 'tunnel', 'passwd', users, 'bob'], { input: 'battery staple\n' });
  const server = await startCaServer(lab, srv, caServerConfig(dir, pki.profile['vpn'] as string, [`auth-users ${users}`]));

  const alice = await startCaClient(lab, ns.alice, caClientConfig(dir, 'alice', pki.profile['alice'] as string, [`auth-user-pass ${credentials('alice', 'alice', 'correct horse')}`]));
  await lab.whoamiServer(srv, 7500);
  assert.match(await lab.tcpRead(ns.alice, '10.8.0.1', 7500), /^::ffff:10\.8\.0\.\d+$/, 'alice is through');
  assert.match(server.output(), /alice .* connected: /);

  const bob = startTunnel(lab, ns.bob, caClientConfig(dir, 'bob', pki.profile['bob'] as string, [`auth-user-pass ${credentials('bob', 'bob', 'wrong password')}`]));
  const [code] = (await once(bob.child, 'exit')) as [number | null];
  assert.notEqual(code, 0, `a wrong password ends the client: ${bob.output()}`);
  assert.notEqual(code, null, `by itself: ${bob.output()}`);
  assert.match(bob.output(), /refused: .*wrong username or password/, `the reason: ${bob.output()}`);
  assert.doesNotMatch(bob.output(), /wrong password/, 'the password is never printed');
  assert.doesNotMatch(server.output(), /wrong password/, 'not by the server either');
  assert.match(server.output(), /refused .*bob/);
  assert.equal(await alice.stop(), 0);
});
