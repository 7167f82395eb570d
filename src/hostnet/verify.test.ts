// insel verify's checks: each passes on a good input and fails, with a
// useful detail, on a bad one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issueCert } from '../pki/issue.js';
import { makeTestPki, type TestPki } from '../pki/testing.js';
import { loadProfile } from '../pki/profile.js';
import { checkCertificate, checkIpForward, checkKeyFile, checkNetAdmin, checkPortFree, checkTunDevice, verifyChecks, type VerifyConfig } from './verify.js';

const DAY_MS = 24 * 60 * 60 * 1000;

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'insel-verify-'));
}

test('a key file is OK at 0600 and 0400, FAIL at 0644 (with the chmod to run) and when missing', () => {
  const dir = tempDir();
  try {
    const key = join(dir, 'static.key');
    writeFileSync(key, 'secret', { mode: 0o600 });
    assert.deepEqual(checkKeyFile(key), { name: `key ${key}`, ok: true, detail: 'mode 0600' });
    chmodSync(key, 0o400);
    assert.equal(checkKeyFile(key).ok, true);
    chmodSync(key, 0o644);
    assert.deepEqual(checkKeyFile(key), { name: `key ${key}`, ok: false, detail: `mode 0644: group or others can read the key; chmod 600 ${key}` });
    assert.deepEqual(checkKeyFile(join(dir, 'nope.key')), { name: `key ${join(dir, 'nope.key')}`, ok: false, detail: 'missing' });
    assert.equal(checkKeyFile(dir).ok, false, 'a directory is not a key file');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('certificates: valid, expired, expiring soon (OK with a warning), not issued by the CA, not a certificate', async () => {
  const pki: TestPki = await makeTestPki();
  const dir = tempDir();
  try {
    const write = (name: string, pem: string) => {
      const f = join(dir, name);
      writeFileSync(f, pem);
      return f;
    };
    const alice = pki.profile('alice');
    const ca = write('ca.crt', alice.ca);
    const good = checkCertificate(write('alice.crt', alice.cert), ca);
    assert.equal(good.ok, true);
    assert.doesNotMatch(good.detail, /WARNING/);

    const old = checkCertificate(write('old.crt', pki.profile('old').cert), ca);
    assert.equal(old.ok, false);
    assert.match(old.detail, /^expired on .*insel pki issue/);

    await issueCert({ dir: pki.dir, role: 'user', name: 'soon', notAfter: new Date(Date.now() + 10 * DAY_MS + 3600_000) });
    const soon = checkCertificate(write('soon.crt', loadProfile(pki.dir, 'soon').cert!), ca);
    assert.equal(soon.ok, true);
    assert.match(soon.detail, /WARNING: expires in 10 days, renew it$/);

    const eve = checkCertificate(write('eve.crt', pki.foreign.cert), ca);
    assert.deepEqual([eve.ok, eve.detail], [false, `not issued by the CA in ${ca}`]);

    assert.match(checkCertificate(write('junk.crt', 'junk')).detail, /^not a PEM certificate/);
    assert.equal(checkCertificate(join(dir, 'missing.crt')).detail, 'missing');
    assert.match(checkCertificate(write('future.crt', alice.cert), undefined, new Date(Date.now() - 400 * DAY_MS)).detail, /^not valid before/);
  } finally {
    pki.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a UDP or TCP port held by another socket fails; a free one passes', async () => {
  const udp = createSocket('udp4');
  udp.bind(0, '127.0.0.1');
  await once(udp, 'listening');
  const tcp = createServer();
  tcp.listen(0, '127.0.0.1');
  await once(tcp, 'listening');
  try {
    const up = udp.address().port;
    const tp = (tcp.address() as AddressInfo).port;
    const held = await checkPortFree('udp', up, '127.0.0.1');
    assert.deepEqual([held.ok, held.detail], [false, `in use; what holds it: ss -ulnp sport = :${up}`]);
    assert.equal((await checkPortFree('udp', up)).ok, false, 'the dual-stack bind sees a v4 holder');
    assert.equal((await checkPortFree('tcp', tp, '127.0.0.1')).ok, false);
    udp.close();
    await once(udp, 'close');
    assert.equal((await checkPortFree('udp', up, '127.0.0.1')).ok, true);
  } finally {
    tcp.close();
  }
});

test('CAP_NET_ADMIN is read from the CapEff bits', () => {
  assert.equal(checkNetAdmin('Name:\tx\nCapEff:\t000001ffffffffff\n').ok, true);
  assert.equal(checkNetAdmin('CapEff:\t0000000000001000\n').ok, true, 'bit 12 alone');
  const none = checkNetAdmin('CapEff:\t0000000000000000\n');
  assert.deepEqual([none.ok, none.detail], [false, 'missing: run insel tunnel as root (it drops to `user`/`group` after setup)']);
  assert.equal(checkNetAdmin('no such line').ok, false);
});

test('ip_forward fails only when a server pushes routes without nat', () => {
  assert.equal(checkIpForward('1', 'needed').ok, true);
  assert.equal(checkIpForward('0', 'needed').ok, false);
  assert.equal(checkIpForward('0', 'set-by-nat').ok, true);
  assert.equal(checkIpForward('0', 'not-needed').ok, true);
  assert.equal(checkIpForward('0', 'unknown').ok, true);
});

test('the tun device check names the missing path', () => {
  const r = checkTunDevice('/nonexistent/tun');
  assert.deepEqual([r.ok, r.detail.startsWith('/nonexistent/tun: ENOENT; load the driver')], [false, true]);
});

test('verifyChecks for a server config: host checks, its key files, certificates and listen ports', async () => {
  const pki = await makeTestPki();
  const dir = tempDir();
  const udp = createSocket('udp4');
  udp.bind(0, '127.0.0.1');
  await once(udp, 'listening');
  try {
    const srv = pki.profile('srv');
    const [cert, key, ca] = ['srv.crt', 'srv.key', 'ca.crt'].map((n) => join(dir, n)) as [string, string, string];
    writeFileSync(cert, srv.cert);
    writeFileSync(key, srv.key, { mode: 0o644 });
    writeFileSync(ca, srv.ca);
    const config: VerifyConfig = { mode: 'server', proto: 'udp', port: udp.address().port, tcpPort: 0, local: '127.0.0.1', cert, key, ca, push: [], nat: {} };
    const checks = await verifyChecks(config);
    const byName = new Map(checks.map((c) => [c.name, c]));
    assert.deepEqual([...byName.keys()], ['tun device', 'CAP_NET_ADMIN', 'ip_forward', 'nft/iptables', `key ${key}`, `certificate ${cert}`, `certificate ${ca}`, `udp port ${config.port}`, 'tcp port 0']);
    assert.equal(byName.get(`key ${key}`)?.ok, false);
    assert.equal(byName.get(`certificate ${cert}`)?.ok, true);
    assert.equal(byName.get(`udp port ${config.port}`)?.ok, false);
    assert.equal(byName.get('tcp port 0')?.ok, true);
    assert.equal(byName.get('ip_forward')?.ok, true, 'nat turns it on');
  } finally {
    udp.close();
    pki.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('verifyChecks for a client needs no port and no firewall tool', async () => {
  const names = (await verifyChecks({ mode: 'client', proto: 'udp', port: 1194, tcpPort: 443, push: [] })).map((c) => c.name);
  assert.deepEqual(names, ['tun device', 'CAP_NET_ADMIN', 'ip_forward', 'nft/iptables']);
  const fw = (await verifyChecks({ mode: 'client', proto: 'udp', port: 1194, tcpPort: 443, push: [] }))[3]!;
  assert.deepEqual([fw.ok, fw.detail], [true, 'not needed (no `nat`)']);
});

test("verifyChecks reads a profile dir's key, certificate and CA", async () => {
  const pki = await makeTestPki();
  const dir = tempDir();
  try {
    const carol = pki.profile('carol');
    writeFileSync(join(dir, 'cert.pem'), carol.cert);
    writeFileSync(join(dir, 'key.pem'), carol.key, { mode: 0o640 });
    writeFileSync(join(dir, 'ca.pem'), carol.ca);
    const checks = await verifyChecks({ mode: 'client', proto: 'udp', port: 1194, tcpPort: 443, profile: dir, push: [] });
    const mine = checks.slice(4).map((c) => [c.name, c.ok]);
    assert.deepEqual(mine, [
      [`key ${join(dir, 'key.pem')}`, false],
      [`certificate ${join(dir, 'cert.pem')}`, true],
      [`certificate ${join(dir, 'ca.pem')}`, true],
    ]);
  } finally {
    pki.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});
