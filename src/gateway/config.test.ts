import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../config/errors.js';
import { MAX_DATA_PAYLOAD } from '../mux/constants.js';
import { resolveLimits } from '../mux/limits.js';
import { gatewayConfigFromText, loadGatewayConfig } from './config.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/gateway.toml', import.meta.url));
const alice = { org: 'Acme', role: 'user' as const, name: 'alice', site: 'branch', groups: ['staff'], serial: '1' };

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'insel-gwconf-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The config error of `text` as /etc/insel/gw.toml; fails on any other outcome. */
function errorOf(text: string): ConfigError {
  try {
    gatewayConfigFromText(text, '/etc/insel/gw.toml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.code, 'INSEL_CONFIG');
    assert.ok(err.message.startsWith('/etc/insel/gw.toml'), err.message);
    return err;
  }
  assert.fail('accepted');
}

const MIN = 'listen = "0.0.0.0:4433"\nprofile = "gw"\n';

test('examples/gateway.toml parses, with every key', () => {
  const c = loadGatewayConfig(EXAMPLE);
  assert.equal(c.file, EXAMPLE);
  assert.deepEqual(c.listen, { host: '0.0.0.0', port: 4433 });
  assert.deepEqual(c.udpListen, { host: '0.0.0.0', port: 4434 });
  assert.deepEqual(c.identity, {
    certFile: join(EXAMPLE, '..', 'pki/certs/gw.crt'),
    keyFile: join(EXAMPLE, '..', 'pki/private/gw.key'),
    caFile: join(EXAMPLE, '..', 'pki/ca.crt'),
    crlFile: join(EXAMPLE, '..', 'pki/crl.pem'),
  });
  assert.equal(c.udpIdleTimeoutMs, 60_000);
  assert.equal(c.connectTimeoutMs, 10_000);
  assert.equal(c.logLevel, 'info');
  assert.deepEqual(c.unauth, { perSource: 16, total: 128, timeoutMs: 10_000 });
  assert.equal(c.policy.size, 4);
  const d = c.policy.check({ identity: alice, action: 'connect', proto: 'tcp', host: 'mail.example.com', address: '192.0.2.1', port: 25 });
  assert.deepEqual(d, { allow: true, rule: 'mail for staff' });
  const l = c.policy.check({ identity: alice, action: 'listen', proto: 'tcp', host: '127.0.0.1', address: '127.0.0.1', port: 8080 });
  assert.equal(l.allow, true);
});

test('defaults; relative paths against the config directory; profile', (t) => {
  const dir = tempDir(t);
  mkdirSync(join(dir, 'gw'));
  writeFileSync(join(dir, 'gw.toml'), 'listen = "[::]:0"\nprofile = "gw"\n');
  const c = loadGatewayConfig(join(dir, 'gw.toml'));
  assert.deepEqual(c.listen, { host: '::', port: 0 });
  assert.equal(c.udpListen, undefined);
  assert.deepEqual(c.identity, { certFile: join(dir, 'gw/cert.pem'), keyFile: join(dir, 'gw/key.pem'), caFile: join(dir, 'gw/ca.pem') });
  assert.equal(c.udpIdleTimeoutMs, 60_000);
  assert.equal(c.connectTimeoutMs, 10_000);
  assert.equal(c.logLevel, 'info');
  assert.equal(c.policy.size, 0);
  writeFileSync(join(dir, 'gw/crl.pem'), '');
  assert.equal(loadGatewayConfig(join(dir, 'gw.toml')).identity.crlFile, join(dir, 'gw/crl.pem'), 'crl.pem is used when present');
  const abs = gatewayConfigFromText('listen = "h:1"\ncert = "/x/c"\nkey = "k"\nca = "../ca"\nudp_idle_timeout = "1.5s"\nconnect_timeout = "2m"\nlog_level = "debug"\n', '/etc/insel/gw.toml');
  assert.deepEqual(abs.identity, { certFile: '/x/c', keyFile: '/etc/insel/k', caFile: '/etc/ca' });
  assert.equal(abs.udpIdleTimeoutMs, 1500);
  assert.equal(abs.connectTimeoutMs, 120_000);
  assert.equal(abs.logLevel, 'debug');
});

test('bad TOML names file and line', () => {
  const err = errorOf('listen = "0.0.0.0:4433"\nprofile = "gw"\nlog_level = info\n');
  assert.match(err.message, /^\/etc\/insel\/gw\.toml:3:\d+: invalid TOML: /);
  assert.match(errorOf('listen = "0.0.0.0:4433"\n[[allow]\n').message, /^\/etc\/insel\/gw\.toml:2:\d+: invalid TOML/);
  assert.match(errorOf('a = 1\na = 2\n').message, /gw\.toml:2:\d+: invalid TOML/);
});

test('a missing file is named', () => {
  assert.throws(() => loadGatewayConfig('/nonexistent/insel/gw.toml'), (err: unknown) => {
    assert.ok(err instanceof ConfigError && err.code === 'INSEL_CONFIG');
    assert.equal(err.message, 'cannot read the gateway config /nonexistent/insel/gw.toml: no such file');
    return true;
  });
});

test('missing and bad keys are named, with the fix', () => {
  const cases: [string, string, RegExp][] = [
    ['profile = "gw"', 'listen', /: listen: missing; e\.g\. listen = "0\.0\.0\.0:4433"/],
    ['listen = 4433\nprofile = "gw"', 'listen', /: listen: must be a string; e\.g\. listen = /],
    ['listen = "0.0.0.0"\nprofile = "gw"', 'listen', /: listen "0\.0\.0\.0": the port is missing; expected HOST:PORT/],
    ['listen = "::1:4433"\nprofile = "gw"', 'listen', /IPv6 addresses must be in brackets/],
    [`${MIN}udp_listen = "x:99999"`, 'udp_listen', /udp_listen "x:99999": port 99999 is out of range/],
    ['listen = "h:1"', 'cert', /: cert: missing; set profile = "DIR" .* or cert, key and ca file paths/],
    ['listen = "h:1"\ncert = "c"\nca = "a"', 'key', /: key: missing/],
    [`${MIN}cert = "c"`, 'cert', /: cert: set either profile or cert\/key\/ca\/crl, not both/],
    ['listen = "h:1"\nprofile = ""', 'profile', /: profile: is empty/],
    [`${MIN}udp_idle_timeout = 60`, 'udp_idle_timeout', /udp_idle_timeout: must be a string, e\.g\. "60s"/],
    [`${MIN}udp_idle_timeout = "60"`, 'udp_idle_timeout', /udp_idle_timeout: "60" is not a duration: use a number and a unit, e\.g\. "500ms"/],
    [`${MIN}connect_timeout = "0s"`, 'connect_timeout', /connect_timeout: "0s" must be at least 1ms/],
    [`${MIN}log_level = "verbose"`, 'log_level', /log_level: use one of fatal, error, warn, info, debug, trace, silent/],
    [`${MIN}lisen = "x"`, 'lisen', /: lisen: unknown key \(misspelt\?\); known keys: listen, udp_listen/],
    [`${MIN}allow = 1`, 'allow', /: allow: must be a list of \[\[allow\]\] tables/],
    [`${MIN}[[allow]]\nwho = ["*"]\nto = ["*"]\nports = ["25"]\n[[allow]]\nwho = ["*"]\nto = ["*"]\nports = ["x"]`, 'allow[1].ports[0]', /: allow\[1\]\.ports\[0\]: "x" is not a port/],
    [`${MIN}[[allow]]\nwho = ["*"]\nto = ["*"]`, 'allow[0].ports', /: allow\[0\]\.ports: missing/],
    [`${MIN}[[allow]]\nwho = ["*"]\nto = ["*"]\nports = ["1"]\nproto = "tcp"`, 'allow[0].proto', /allow\[0\]\.proto: must be a list, e\.g\. proto = \["tcp"\]/],
    [`${MIN}[allow]\nwho = ["*"]`, 'allow', /allow: must be a list of \[\[allow\]\] tables/],
  ];
  for (const [text, field, re] of cases) {
    const err = errorOf(text);
    assert.match(err.message, re);
    assert.equal(err.field, field, err.message);
    assert.equal(err.file, '/etc/insel/gw.toml');
  }
});

test('[limits] before authentication: defaults, values, and mistakes named', () => {
  assert.deepEqual(gatewayConfigFromText(MIN, '/etc/insel/gw.toml').unauth, { perSource: 16, total: 128, timeoutMs: 10_000 });
  const c = gatewayConfigFromText(`${MIN}[limits]\nunauthenticated_per_source = 2\nunauthenticated_total = 5\nhandshake_timeout = "1.5s"\n`, '/etc/insel/gw.toml');
  assert.deepEqual(c.unauth, { perSource: 2, total: 5, timeoutMs: 1500 });
  assert.match(errorOf(`${MIN}[limits]\nunauthenticated_per_source = 0\n`).message, /limits\.unauthenticated_per_source: must be at least 1/);
  assert.match(errorOf(`${MIN}[limits]\nunauthenticated_total = 1.5\n`).message, /limits\.unauthenticated_total: must be a whole number/);
  assert.match(errorOf(`${MIN}[limits]\nunauthenticated_per_source = 20\nunauthenticated_total = 10\n`).message, /limits\.unauthenticated_total: \(10\) is below limits\.unauthenticated_per_source \(20\)/);
  assert.match(errorOf(`${MIN}[limits]\nhandshake_timeout = "soon"\n`).message, /limits\.handshake_timeout: "soon" is not a duration/);
  assert.match(errorOf(`${MIN}[limits]\nunauth_total = 3\n`).message, /limits\.unauth_total: unknown key \(misspelt\?\); known keys: unauthenticated_per_source/);
});

test('[limits] per session: streams_per_session and opens_per_second, defaults and mistakes named', () => {
  const d = gatewayConfigFromText(MIN, '/etc/insel/gw.toml').limits;
  assert.equal(d.streamsPerSession, 1024);
  assert.equal(d.opensPerSecond, 5000);
  const c = gatewayConfigFromText(`${MIN}[limits]\nstreams_per_session = 8\nopens_per_second = 50\n`, '/etc/insel/gw.toml').limits;
  assert.equal(c.streamsPerSession, 8);
  assert.equal(c.opensPerSecond, 50);
  assert.match(errorOf(`${MIN}[limits]\nstreams_per_session = 0\n`).message, /limits\.streams_per_session: must be at least 1/);
  assert.match(errorOf(`${MIN}[limits]\nopens_per_second = 2.5\n`).message, /limits\.opens_per_second: must be a whole number/);
});

test('[limits] queued_bytes_per_session: the smallest accepted value is one the mux accepts too', () => {
  const c = gatewayConfigFromText(`${MIN}[limits]\nqueued_bytes_per_session = ${MAX_DATA_PAYLOAD}\n`, '/etc/insel/gw.toml').limits;
  assert.equal(c.queuedBytesPerSession, MAX_DATA_PAYLOAD);
  assert.equal(resolveLimits({ maxQueuedPerSession: c.queuedBytesPerSession }).maxQueuedPerSession, MAX_DATA_PAYLOAD);
  assert.match(errorOf(`${MIN}[limits]\nqueued_bytes_per_session = ${MAX_DATA_PAYLOAD - 1}\n`).message, /limits\.queued_bytes_per_session: must be at least 262144/);
});
