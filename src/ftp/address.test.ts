import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalIp, ipv4Octets, sameHost } from './address.js';

test('IPv4-mapped IPv6 equals its IPv4 address, in any spelling', () => {
  assert.ok(sameHost('::ffff:127.0.0.1', '127.0.0.1'));
  assert.ok(sameHost('::FFFF:7f00:1', '127.0.0.1'));
  assert.ok(sameHost('0:0:0:0:0:ffff:127.0.0.1', '::ffff:127.0.0.1'));
  assert.ok(sameHost('2001:db8::1', '2001:DB8:0:0:0:0:0:1'));
  assert.ok(!sameHost('127.0.0.1', '127.0.0.2'));
  assert.ok(!sameHost('::1', '127.0.0.1'));
  assert.ok(!sameHost('::127.0.0.1', '127.0.0.1'), 'IPv4-compatible is not IPv4-mapped');
});

test('non-addresses are never the same host, not even as themselves', () => {
  assert.equal(canonicalIp('localhost'), undefined);
  assert.ok(!sameHost('localhost', 'localhost'));
  assert.ok(!sameHost('', ''));
  assert.equal(canonicalIp('1.2.3.256'), undefined);
});

test('canonical forms', () => {
  assert.equal(canonicalIp('::1'), '0:0:0:0:0:0:0:1');
  assert.equal(canonicalIp('fe80::1%eth0'), 'fe80:0:0:0:0:0:0:1%eth0');
  assert.deepEqual(ipv4Octets('::ffff:10.1.2.3'), [10, 1, 2, 3]);
  assert.equal(ipv4Octets('::1'), undefined);
});
