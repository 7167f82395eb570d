// loadTunnelConfig: the files a config names must exist, and keys and
// passwords must be private (mode & 0o077 == 0); errors point at the line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../config/errors.js';
import { writeStaticKey } from '../pki/static-key.js';
import { loadTunnelConfig } from './index.js';
import { SEED_CLIENT, SEED_SERVER, SERVER } from './testing.js';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'insel-tunconf-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function write(dir: string, name: string, text: string, mode = 0o644): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  chmodSync(p, mode);
  return p;
}

/** loadTunnelConfig's error for `file`, which must start with file:line: and match `re`. */
function loadError(file: string, line: number, re: RegExp): ConfigError {
  try {
    loadTunnelConfig(file);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.ok(err.message.startsWith(`${file}:${line}: `), err.message);
    assert.match(err.message, re);
    return err;
  }
  return assert.fail('loaded');
}

test("seed 004's pair loads with a key from insel genkey --secret", (t) => {
  const dir = tempDir(t);
  writeStaticKey(join(dir, 'static.key'), false);
  const server = loadTunnelConfig(write(dir, 'server.conf', SEED_SERVER));
  const client = loadTunnelConfig(write(dir, 'client.conf', SEED_CLIENT('192.0.2.1')));
  assert.equal(server.secret, join(dir, 'static.key'));
  assert.equal(client.secret, join(dir, 'static.key'));
  assert.equal(client.remotes.length, 1);
});

test('a key readable by group or others is refused with chmod 600', (t) => {
  const dir = tempDir(t);
  const key = write(dir, 'static.key', 'not parsed here', 0o644);
  const conf = write(dir, 'server.conf', SEED_SERVER);
  loadError(conf, 3, new RegExp(`secret: ${key} is open to group or others \\(mode 0644\\); it must be yours alone; chmod 600 ${key}$`));
  chmodSync(key, 0o600);
  assert.equal(loadTunnelConfig(conf).secret, key);
  chmodSync(key, 0o400);
  assert.equal(loadTunnelConfig(conf).secret, key, 'read-only for the owner is fine');
});

test('a missing key names the file, the line and how to make one', (t) => {
  const dir = tempDir(t);
  const conf = write(dir, 'server.conf', SEED_SERVER);
  loadError(conf, 3, new RegExp(`secret: ${join(dir, 'static.key')}: no such file; create it with insel genkey --secret`));
  mkdirSync(join(dir, 'static.key'));
  loadError(conf, 3, /is not a file/);
});

test('CA files: each must exist; the key must be private', (t) => {
  const dir = tempDir(t);
  const conf = write(dir, 'server.conf', `${SERVER}crl-verify crl.pem\n`);
  loadError(conf, 3, /ca: .*ca\.pem: no such file/);
  write(dir, 'ca.pem', 'x');
  loadError(conf, 4, /cert: .*server\.pem: no such file; issue it with insel pki issue/);
  write(dir, 'server.pem', 'x');
  const key = write(dir, 'server.key', 'x', 0o640);
  loadError(conf, 5, /key: .*mode 0640.*chmod 600/);
  chmodSync(key, 0o600);
  loadError(conf, 6, /crl-verify: .*crl\.pem: no such file; write it with insel pki crl/);
  write(dir, 'crl.pem', 'x');
  assert.equal(loadTunnelConfig(conf).mode, 'server');
});

test('a profile directory: cert.pem, ca.pem and a private key.pem', (t) => {
  const dir = tempDir(t);
  const conf = write(dir, 'client.conf', 'client\ndev tun\nremote vpn.example.com\nprofile alice\n');
  loadError(conf, 4, /profile: .*alice: no such file; write it with insel pki export --out/);
  const p = join(dir, 'alice');
  mkdirSync(p, { mode: 0o700 });
  write(p, 'cert.pem', 'x');
  write(p, 'ca.pem', 'x');
  loadError(conf, 4, /key\.pem: no such file/);
  const key = write(p, 'key.pem', 'x', 0o644);
  loadError(conf, 4, /key\.pem is open to group or others \(mode 0644\)/);
  chmodSync(key, 0o600);
  assert.equal(loadTunnelConfig(conf).profile, p);
});

test('password files must exist (their mode is checked where they are read); the verify script must be executable', (t) => {
  const dir = tempDir(t);
  for (const f of ['ca.pem', 'server.pem']) write(dir, f, 'x');
  write(dir, 'server.key', 'x', 0o600);
  const conf = write(dir, 'server.conf', `${SERVER}auth-users users.txt\nauth-user-pass-verify check.sh via-env\n`);
  loadError(conf, 6, /auth-users: .*users\.txt: no such file; create it with insel tunnel passwd/);
  write(dir, 'users.txt', 'alice:x\n', 0o640);
  loadError(conf, 7, /auth-user-pass-verify: .*check\.sh: no such file/);
  const script = write(dir, 'check.sh', '#!/bin/sh\nexit 0\n', 0o644);
  loadError(conf, 7, new RegExp(`auth-user-pass-verify: ${script} is not executable; chmod \\+x ${script}`));
  chmodSync(script, 0o755);
  assert.equal(loadTunnelConfig(conf).authUserPassVerify?.script, script);

  const client = write(dir, 'client.conf', 'client\ndev tun\nremote vpn.example.com\nca ca.pem\ncert server.pem\nkey server.key\nauth-user-pass pass.txt\n');
  loadError(client, 7, /auth-user-pass: .*pass\.txt: no such file; write the username and the password on two lines/);
  write(dir, 'pass.txt', 'alice\nsecret\n', 0o600);
  assert.equal(loadTunnelConfig(client).authUserPass, join(dir, 'pass.txt'));
});

test('an unreadable config file is an error at line 1; so is a huge one', (t) => {
  const dir = tempDir(t);
  loadError(join(dir, 'nope.conf'), 1, /cannot read the tunnel config: no such file/);
  loadError(dir, 1, /cannot read the tunnel config: it is a directory/);
  loadError(write(dir, 'big.conf', '#'.repeat((1 << 20) + 1)), 1, /larger than 1048576 bytes/);
});
