import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../config/errors.js';
import { TunnelError } from '../errors.js';
import { AddressPool, type PoolConfig } from './pool.js';

const dir = mkdtempSync(join(tmpdir(), 'insel-pool-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(dir, `pool-${n++}.txt`);

function config(over: Partial<PoolConfig> = {}): PoolConfig {
  return { file: 'server.conf', server: { network: '10.8.0.0', prefix: 24 }, serverIpv6: { network: 'fd00:8::', prefix: 64 }, maxClients: 1024, ...over };
}
const quiet = () => {};

describe('AddressPool', () => {
  it('gives .2 up and ::1000 up, the same addresses on reconnect', () => {
    const pool = new AddressPool(config(), quiet);
    assert.deepEqual(pool.lease('alice'), { ipv4: '10.8.0.2', ipv6: 'fd00:8::1000' });
    assert.deepEqual(pool.lease('bob'), { ipv4: '10.8.0.3', ipv6: 'fd00:8::1001' });
    pool.release('alice');
    assert.deepEqual(pool.lease('carol'), { ipv4: '10.8.0.4', ipv6: 'fd00:8::1002' }, "a released address stays alice's while free ones remain");
    assert.deepEqual(pool.lease('alice'), { ipv4: '10.8.0.2', ipv6: 'fd00:8::1000' });
  });

  it('counts holders: a reconnect leasing before the old session releases keeps the lease', () => {
    const pool = new AddressPool(config({ server: { network: '10.8.0.0', prefix: 30 } }), quiet);
    assert.equal(pool.size, 1n);
    const a = pool.lease('alice');
    assert.deepEqual(pool.lease('alice'), a);
    pool.release('alice'); // the old session ends late
    assert.throws(() => pool.lease('bob'), (e: TunnelError) => e.code === 'INSEL_TUNNEL_FULL');
    pool.release('alice');
    assert.deepEqual(pool.lease('bob'), { ipv4: '10.8.0.2', ipv6: 'fd00:8::1001' });
  });

  it('hands 1000 identities distinct addresses, stable across reconnects, never network/server/broadcast', () => {
    const pool = new AddressPool(config({ server: { network: '10.9.0.0', prefix: 22 } }), quiet);
    assert.equal(pool.size, 1021n);
    const first = new Map<string, string>();
    for (let i = 0; i < 1000; i++) first.set(`id${i}`, JSON.stringify(pool.lease(`id${i}`)));
    const v4 = new Set([...first.values()].map((l) => JSON.parse(l).ipv4 as string));
    const v6 = new Set([...first.values()].map((l) => JSON.parse(l).ipv6 as string));
    assert.equal(v4.size, 1000);
    assert.equal(v6.size, 1000);
    for (const bad of ['10.9.0.0', '10.9.0.1', '10.9.3.255']) assert.ok(!v4.has(bad), bad);
    for (let i = 0; i < 1000; i += 3) pool.release(`id${i}`);
    for (let i = 999; i >= 0; i -= 3) assert.equal(JSON.stringify(pool.lease(`id${i}`)), first.get(`id${i}`));
  });

  it('reclaims the longest-idle reservation only when no address is free, and fails typed when all are in use', () => {
    const pool = new AddressPool(config({ server: { network: '10.8.0.0', prefix: 29 }, serverIpv6: undefined, maxClients: 10 }), quiet);
    for (const id of ['a', 'b', 'c', 'd', 'e']) pool.lease(id);
    pool.release('c');
    pool.release('a');
    assert.deepEqual(pool.lease('f'), { ipv4: '10.8.0.4' }, "c's address: released first");
    assert.deepEqual(pool.lease('a'), { ipv4: '10.8.0.2' }, 'a kept its reservation');
    assert.throws(
      () => pool.lease('g'),
      (e: TunnelError) =>
        e instanceof TunnelError &&
        e.code === 'INSEL_TUNNEL_FULL' &&
        e.message === 'the address pool 10.8.0.0/29 is exhausted: all its 5 client addresses are in use (max-clients is 10); make the pool bigger in server.conf or set max-clients to at most 5',
    );
    assert.equal(pool.peek('g'), undefined, 'a failed lease leaves nothing behind');
  });

  it('IPv6 only', () => {
    const pool = new AddressPool(config({ server: undefined, serverIpv6: { network: '2001:db8:1:2::', prefix: 112 } }), quiet);
    assert.equal(pool.size, 0x10000n - 0x1000n);
    assert.deepEqual(pool.lease('x'), { ipv6: '2001:db8:1:2::1000' });
  });

  it('refuses pools without room or with host bits, naming the config file and directive', () => {
    const bad: [Partial<PoolConfig>, RegExp][] = [
      [{ server: { network: '10.8.0.0', prefix: 31 } }, /^server\.conf: server: a pool of \/31 has no room for clients/],
      [{ server: { network: '10.8.0.1', prefix: 24 } }, /^server\.conf: server: 10\.8\.0\.1\/24 has host bits set; did you mean 10\.8\.0\.0\?/],
      [{ server: { network: 'fd00::', prefix: 64 } }, /is not an IPv4 network address/],
      [{ serverIpv6: { network: 'fd00::', prefix: 120 } }, /^server\.conf: server-ipv6: a pool of \/120 has no room/],
      [{ server: undefined, serverIpv6: undefined }, /a CA server needs an address pool/],
    ];
    for (const [over, re] of bad) assert.throws(() => new AddressPool(config(over), quiet), (e: Error) => e instanceof ConfigError && re.test(e.message));
  });
});

describe('ifconfig-pool-persist', () => {
  it('round-trips: same addresses after a restart, file mode 0600, OpenVPN line format', () => {
    const file = fresh();
    const persist = { file, seconds: 600 };
    const a = new AddressPool(config({ poolPersist: persist }), quiet);
    const leases = ['alice', 'bob', 'carol'].map((id) => a.lease(id));
    a.release('bob');
    a.close();
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    assert.deepEqual(lines, ['alice,10.8.0.2,fd00:8::1000', 'bob,10.8.0.3,fd00:8::1001', 'carol,10.8.0.4,fd00:8::1002']);

    const b = new AddressPool(config({ poolPersist: persist }), quiet);
    assert.deepEqual(b.lease('dave'), { ipv4: '10.8.0.5', ipv6: 'fd00:8::1003' }, 'persisted addresses are reserved');
    assert.deepEqual(['carol', 'alice', 'bob'].map((id) => b.lease(id)), [leases[2], leases[0], leases[1]]);
  });

  it('reads OpenVPN files: two fields, empty fields, comments; ignores entries outside the pool with a warning', () => {
    const file = fresh();
    writeFileSync(file, '# comment\nclient1,10.8.0.9\nclient2,,fd00:8::2000\n\nold,192.168.1.5,\nboth,10.8.0.1,fd00:8::1\n', { mode: 0o600 });
    const warnings: string[] = [];
    const pool = new AddressPool(config({ poolPersist: { file, seconds: 0 } }), (m) => warnings.push(m));
    assert.deepEqual(warnings, [
      `${file}:5: 192.168.1.5 of old is outside today's pool; old gets a new address`,
      `${file}:6: 10.8.0.1 of both is outside today's pool; both gets a new address`,
      `${file}:6: fd00:8::1 of both is outside today's pool; both gets a new address`,
    ]);
    assert.deepEqual(pool.lease('client1'), { ipv4: '10.8.0.9', ipv6: 'fd00:8::1000' });
    assert.deepEqual(pool.lease('client2'), { ipv4: '10.8.0.2', ipv6: 'fd00:8::2000' });
    pool.close();
    assert.equal(readFileSync(file, 'utf8').split('\n')[1], 'client1,10.8.0.9', 'seconds 0: read-only');
  });

  it('refuses a corrupt file naming file:line, and does not touch it', () => {
    const cases: [string, RegExp][] = [
      ['a,10.8.0.2,\ngarbage\n', /:2: expected identity,ipv4,ipv6, got 1 field\(s\)/],
      ['a,10.8.0.2,,x\n', /:1: expected identity,ipv4,ipv6, got 4 field/],
      ['a,10.8.0.300,\n', /:1: "10\.8\.0\.300" is not an IPv4 address/],
      ['a,fd00::1,\n', /:1: "fd00::1" is not an IPv4 address/],
      ['a,,\n', /:1: a has no address/],
      ['a,10.8.0.2,\na,10.8.0.3,\n', /:2: "a" already has line 1/],
      ['a,10.8.0.2,\nb,10.8.0.2,\n', /:2: 10\.8\.0\.2 is given to a too/],
      ['a b,10.8.0.2,\n', /:1: "a b" is not an identity/],
    ];
    for (const [text, re] of cases) {
      const file = fresh();
      writeFileSync(file, text, { mode: 0o600 });
      assert.throws(
        () => new AddressPool(config({ poolPersist: { file, seconds: 600 } }), quiet),
        (e: Error) => e instanceof ConfigError && e.message.startsWith(file) && re.test(e.message) && e.message.endsWith('fix the line, or delete the file while the server is stopped (clients may then get new addresses)'),
        text,
      );
      assert.equal(readFileSync(file, 'utf8'), text);
    }
  });

  it('refuses identities that cannot be written as a line', () => {
    const pool = new AddressPool(config(), quiet);
    for (const id of ['', 'a,b', 'a\nb', '#x', 'x'.repeat(257)]) assert.throws(() => pool.lease(id), RangeError);
  });
});
