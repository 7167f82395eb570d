import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../config/errors.js';
import { forwardsConfigFromText, loadForwardsConfig } from './forwards-config.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/forwards.toml', import.meta.url));
const FILE = '/home/u/.config/insel/forwards.toml';
const HEAD = 'via = "gw.example.com:4433"\nprofile = "p"\n';
const LOCAL = '[[forward]]\ntype = "local"\nlisten = "2525"\nto = "mail:25"\n';

function errorOf(text: string): ConfigError {
  try {
    forwardsConfigFromText(text, FILE);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.code, 'INSEL_CONFIG');
    assert.ok(err.message.startsWith(FILE), err.message);
    return err;
  }
  assert.fail('accepted');
}

test('examples/forwards.toml parses, with every key', () => {
  const c = loadForwardsConfig(EXAMPLE);
  assert.equal(c.file, EXAMPLE);
  assert.deepEqual(c.via, { host: 'gw.example.com', port: 4433 });
  assert.equal(c.identity.certFile, '/etc/insel/branch/cert.pem');
  assert.equal(c.reconnectMinMs, 500);
  assert.equal(c.reconnectMaxMs, 30_000);
  assert.deepEqual(
    c.forwards.map((f) => [f.kind, f.bind, f.port, f.host, f.hostPort, f.ftp]),
    [
      ['L', '127.0.0.1', 2525, 'mail.hq.example', 25, false],
      ['L', '127.0.0.1', 2121, 'files.hq.example', 21, true],
      ['U', '127.0.0.1', 5353, '10.0.0.53', 53, false],
      ['R', '127.0.0.1', 8080, 'localhost', 3000, false],
      ['D', '127.0.0.1', 1080, '', 0, false],
    ],
  );
  assert.equal(c.forwards[0]!.text, '127.0.0.1:2525:mail.hq.example:25');
  assert.equal(c.gatewayName, undefined);
  assert.equal(c.allowStaleCrl, false);
  assert.equal(c.crlStore, '/etc/insel/branch/crl.pem');
});

test('a dynamic forward: no to; username and password_file together, the file private, its first line the password', () => {
  const dir = mkdtempSync(join(tmpdir(), 'insel-fwd-socks-'));
  try {
    const pw = join(dir, 'pw');
    writeFileSync(pw, 's3cret\nignored\n', { mode: 0o600 });
    const file = join(dir, 'forwards.toml');
    const at = (body: string) => forwardsConfigFromText(`${HEAD}[[forward]]\ntype = "dynamic"\nlisten = 1080\n${body}`, file);
    assert.deepEqual(at(`username = "alice"\npassword_file = "pw"\n`).forwards[0]!.socksAuth, { username: 'alice', password: 's3cret' });
    assert.equal(at('').forwards[0]!.socksAuth, undefined);
    const fails = (body: string, re: RegExp) => assert.throws(() => at(body), (e: Error) => re.test(e.message), body);
    fails('to = "x:1"\n', /forward\[0\]\.to: a dynamic forward has no fixed target/);
    fails('username = "alice"\n', /forward\[0\]\.password_file: missing/);
    fails('password_file = "pw"\n', /forward\[0\]\.username: missing/);
    chmodSync(pw, 0o644);
    fails(`username = "alice"\npassword_file = "pw"\n`, /is open to others \(mode 0644\).*chmod 600/);
    assert.throws(() => forwardsConfigFromText(`${HEAD}[[forward]]\ntype = "local"\nlisten = 1\nto = "x:1"\nusername = "a"\n`, file), /only dynamic \(SOCKS\) forwards take a username/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('gateway_name and allow_stale_crl; a refreshed CRL goes to the crl file, or the profile\'s crl.pem', () => {
  const c = forwardsConfigFromText(`${HEAD}gateway_name = "gw"\nallow_stale_crl = true\n${LOCAL}`, FILE);
  assert.equal(c.gatewayName, 'gw');
  assert.equal(c.allowStaleCrl, true);
  assert.equal(c.crlStore, '/home/u/.config/insel/p/crl.pem');
  const files = forwardsConfigFromText(`via = "gw:1"\ncert = "c"\nkey = "k"\nca = "a"\ncrl = "/x/crl.pem"\n${LOCAL}`, FILE);
  assert.equal(files.crlStore, '/x/crl.pem');
  assert.equal(forwardsConfigFromText(`via = "gw:1"\ncert = "c"\nkey = "k"\nca = "a"\n${LOCAL}`, FILE).crlStore, undefined);
  assert.match(errorOf(`${HEAD}allow_stale_crl = "yes"\n${LOCAL}`).message, /allow_stale_crl: must be true or false/);
  assert.match(errorOf(`${HEAD}gateway_name = 7\n${LOCAL}`).message, /gateway_name: must be a string/);
});

test('defaults, cert/key/ca paths, IPv6, integer listen', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'insel-fwconf-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, 'f.toml'),
    'via = "[2001:db8::1]:4433"\ncert = "c.crt"\nkey = "c.key"\nca = "/pki/ca.crt"\ncrl = "crl.pem"\n' +
      '[[forward]]\ntype = "remote"\nlisten = "[::1]:0"\nto = "[::1]:22"\n[[forward]]\ntype = "local"\nlisten = 8080\nto = "web:80"\n',
  );
  const c = loadForwardsConfig(join(dir, 'f.toml'));
  assert.deepEqual(c.via, { host: '2001:db8::1', port: 4433 });
  assert.deepEqual(c.identity, { certFile: join(dir, 'c.crt'), keyFile: join(dir, 'c.key'), caFile: '/pki/ca.crt', crlFile: join(dir, 'crl.pem') });
  assert.equal(c.reconnectMinMs, 500);
  assert.equal(c.reconnectMaxMs, 30_000);
  assert.deepEqual(c.forwards[0], { kind: 'R', bind: '::1', port: 0, host: '::1', hostPort: 22, text: '[::1]:0:[::1]:22', ftp: false });
  assert.deepEqual([c.forwards[1]!.bind, c.forwards[1]!.port, c.forwards[1]!.text], ['127.0.0.1', 8080, '8080:web:80']);
});

test('bad TOML names file and line', () => {
  assert.match(errorOf(`${HEAD}${LOCAL}ftp = yes\n`).message, /^\/home\/u\/\.config\/insel\/forwards\.toml:7:\d+: invalid TOML: /);
});

test('a missing file is named', () => {
  assert.throws(() => loadForwardsConfig('/nonexistent/f.toml'), /^ConfigError: cannot read the forwards config \/nonexistent\/f\.toml: no such file$/);
});

test('missing and bad keys are named, with the fix', () => {
  const cases: [string, string, RegExp][] = [
    [`profile = "p"\n${LOCAL}`, 'via', /: via: missing; e\.g\. via = "gw\.example\.com:4433"/],
    [`via = "gw"\nprofile = "p"\n${LOCAL}`, 'via', /: via "gw": the port is missing/],
    [`via = "gw:0"\nprofile = "p"\n${LOCAL}`, 'via', /: via "gw:0": port 0 is out of range: use 1-65535/],
    [`via = "gw:1"\n${LOCAL}`, 'cert', /: cert: missing; set profile = /],
    [HEAD, 'forward', /: forward: missing; add \[\[forward\]\] tables with keys type, listen, to, ftp/],
    [`${HEAD}forward = []`, 'forward', /: forward: no forwards: add at least one/],
    [`${HEAD}[[forward]]\ntype = "lokal"\nlisten = "1"\nto = "a:1"`, 'forward[0].type', /forward\[0\]\.type: use "local" \(like -L\), "remote" \(like -R\), "udp" \(like -U\) or "dynamic" \(like -D\)/],
    [`${HEAD}[[forward]]\ntype = "local"\nto = "a:1"`, 'forward[0].listen', /forward\[0\]\.listen: missing/],
    [`${HEAD}[[forward]]\ntype = "local"\nlisten = "1"`, 'forward[0].to', /forward\[0\]\.to: missing/],
    [`${HEAD}${LOCAL}[[forward]]\ntype = "local"\nlisten = "x:y:z"\nto = "a:1"`, 'forward[1].listen', /forward\[1\]\.listen "x:y:z": too many/],
    [`${HEAD}[[forward]]\ntype = "local"\nlisten = "1"\nto = "a"`, 'forward[0].to', /forward\[0\]\.to "a": the port is missing; expected HOST:PORT/],
    [`${HEAD}[[forward]]\ntype = "local"\nlisten = "1"\nto = "a:0"`, 'forward[0].to', /forward\[0\]\.to "a:0": port 0 is out of range/],
    [`${HEAD}[[forward]]\ntype = "remote"\nlisten = "1"\nto = "a:1"\nftp = true`, 'forward[0].ftp', /forward\[0\]\.ftp: FTP relaying works on local forwards only/],
    [`${HEAD}[[forward]]\ntype = "udp"\nlisten = "1"\nto = "a:1"\nftp = true`, 'forward[0].ftp', /local forwards only/],
    [`${HEAD}[[forward]]\ntype = "local"\nlisten = "1"\nto = "a:1"\nftp = "yes"`, 'forward[0].ftp', /forward\[0\]\.ftp: must be true or false/],
    [`${HEAD}[[forward]]\ntype = "local"\nlisten = "1"\nto = "a:1"\nport = 1`, 'forward[0].port', /forward\[0\]\.port: unknown key \(misspelt\?\); add \[\[forward\]\] tables with keys/],
    [`${HEAD}${LOCAL}${LOCAL}`, 'forward[1].listen', /forward\[1\]\.listen: forward\[0\] listens on 127\.0\.0\.1:2525 already/],
    [`${HEAD}reconnect_min = "1m"\nreconnect_max = "30s"\n${LOCAL}`, 'reconnect_min', /reconnect_min: 1m exceeds reconnect_max \(30s\)/],
    [`${HEAD}reconnect_max = "forever"\n${LOCAL}`, 'reconnect_max', /reconnect_max: "forever" is not a duration/],
    [`${HEAD}vai = "x"\n${LOCAL}`, 'vai', /: vai: unknown key \(misspelt\?\); known keys: via, profile/],
  ];
  for (const [text, field, re] of cases) {
    const err = errorOf(text);
    assert.match(err.message, re);
    assert.equal(err.field, field, err.message);
  }
});

test('one port may carry a tcp and a udp forward, and several forwards may use port 0', () => {
  const udp = LOCAL.replace('"local"', '"udp"');
  const c = forwardsConfigFromText(`${HEAD}${LOCAL}${udp}`, FILE);
  assert.deepEqual(c.forwards.map((f) => f.kind), ['L', 'U']);
  const zero = '[[forward]]\ntype = "local"\nlisten = "0"\nto = "a:1"\n';
  assert.equal(forwardsConfigFromText(`${HEAD}${zero}${zero}`, FILE).forwards.length, 2);
});
