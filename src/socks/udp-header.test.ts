// SOCKS5 UDP request header (RFC 1928 §7): vectors, FRAG passed through, and
// every malformed datagram as INSEL_SOCKS_UDP (no reply exists for UDP).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SocksError } from './errors.js';
import { encodeUdpHeader, readUdpHeader, UDP_HEADER_FIXED } from './udp-header.js';
import { prefixes } from './testing.js';

const hex = (b: Buffer) => b.toString('hex');
const malformed = (message: RegExp) => ({ name: 'SocksError', code: 'INSEL_SOCKS_UDP', reply: undefined, message });

test('vectors: header then payload, each address type', () => {
  assert.equal(UDP_HEADER_FIXED, 3);
  const dns = Buffer.from('000000' + '01' + '0a000005' + '0035' + 'cafe', 'hex');
  assert.deepEqual(readUdpHeader(dns), { frag: 0, address: { atyp: 1, host: '10.0.0.5', port: 53 }, dataOffset: 10 });
  assert.equal(hex(encodeUdpHeader('10.0.0.5', 53)), hex(dns.subarray(0, 10)));
  for (const [host, atyp] of [['dns.corp', 3], ['2001:db8::53', 4], ['::ffff:10.0.0.5', 4]] as const) {
    const header = encodeUdpHeader(host, 5353);
    const msg = Buffer.concat([header, Buffer.from('payload')]);
    assert.deepEqual(readUdpHeader(msg), { frag: 0, address: { atyp, host, port: 5353 }, dataOffset: header.length });
    // An empty datagram is a datagram: the payload starts at the end.
    assert.equal(readUdpHeader(header).dataOffset, header.length);
  }
});

test('FRAG is returned as is: dropping fragments is the caller\'s decision', () => {
  for (const frag of [1, 0x7f, 0x80, 0xff]) {
    const msg = Buffer.from('0000' + frag.toString(16).padStart(2, '0') + '01' + '7f000001' + '0035', 'hex');
    assert.equal(readUdpHeader(msg).frag, frag);
  }
});

test('errors: short, reserved bytes, truncated or bad address', () => {
  const valid = encodeUdpHeader('dns.corp', 53);
  for (const p of prefixes(valid)) {
    assert.throws(() => readUdpHeader(p), malformed(p.length < 3 ? /too short/ : /end inside the address/), `${p.length} bytes`);
  }
  assert.throws(() => readUdpHeader(Buffer.from('0100000100000000' + '0000', 'hex')), malformed(/reserved bytes are 1 0/));
  assert.throws(() => readUdpHeader(Buffer.from('0001000100000000' + '0000', 'hex')), malformed(/reserved bytes are 0 1/));
  assert.throws(() => readUdpHeader(Buffer.from('00000005' + '00'.repeat(20), 'hex')), malformed(/type 5 is unknown/));
  assert.throws(() => readUdpHeader(Buffer.from('0000000300' + '0035', 'hex')), malformed(/domain name is empty/));
  try {
    readUdpHeader(Buffer.from('000000030100' + '0035', 'hex'));
    assert.fail('a NUL in a domain must throw');
  } catch (err) {
    assert.ok(err instanceof SocksError && err.code === 'INSEL_SOCKS_UDP');
    assert.ok(err.cause instanceof SocksError && err.cause.code === 'INSEL_SOCKS_ADDRESS', 'the address error is the cause');
  }
});

test('encode: bad hosts and ports throw SocksError', () => {
  assert.throws(() => encodeUdpHeader('', 53), { name: 'SocksError', code: 'INSEL_SOCKS_ADDRESS' });
  assert.throws(() => encodeUdpHeader('1.2.3.4', 70000), { name: 'SocksError', code: 'INSEL_SOCKS_ADDRESS' });
});
