// SOCKS address codec: RFC 1928 §5 byte layouts, IPv6 text as node prints it,
// incremental reads (prefixes, exact end), and every error with its reply code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ATYP, encodeAddress, encodedAddressLength, MAX_DOMAIN, readAddress, writeAddress } from './address.js';
import { Reply } from './errors.js';
import { prefixes } from './testing.js';

const hex = (b: Buffer) => b.toString('hex');
const ascii = (s: string) => Buffer.from(s, 'latin1').toString('hex');
const bad = (reply: number) => ({ name: 'SocksError', code: 'INSEL_SOCKS_ADDRESS', reply });

test('vectors: IPv4, IPv6, domain (RFC 1928 §5)', () => {
  assert.equal(hex(encodeAddress('127.0.0.1', 1080)), '01' + '7f000001' + '0438');
  assert.equal(hex(encodeAddress('::1', 53)), '04' + '00'.repeat(15) + '01' + '0035');
  assert.equal(hex(encodeAddress('2001:db8::1', 443)), '04' + '20010db8' + '00'.repeat(11) + '01' + '01bb');
  assert.equal(hex(encodeAddress('example.com', 80)), '03' + '0b' + ascii('example.com') + '0050');
  assert.equal(hex(encodeAddress('0.0.0.0', 0)), '01' + '00000000' + '0000');
  assert.deepEqual(ATYP, { IPV4: 1, DOMAIN: 3, IPV6: 4 });
});

test('read: each type, at an offset, end exact when more bytes follow', () => {
  for (const [host, port, atyp] of [
    ['10.0.0.5', 53, 1],
    ['255.255.255.255', 65535, 1],
    ['fe80::1', 1, 4],
    ['dns.corp', 5353, 3],
    ['x'.repeat(MAX_DOMAIN), 7, 3],
  ] as const) {
    const enc = encodeAddress(host, port);
    assert.equal(enc.length, encodedAddressLength(host));
    const buf = Buffer.concat([Buffer.from([0xaa, 0xbb]), enc, Buffer.from([1, 2, 3])]);
    assert.deepEqual(readAddress(buf, 2), { address: { atyp, host, port }, end: 2 + enc.length });
    for (const p of prefixes(enc)) assert.equal(readAddress(p, 0), undefined, `${host}: ${p.length} bytes`);
  }
});

test('IPv6 text is what node prints: lowercase, longest zero run as ::, IPv4-mapped dotted', () => {
  const cases: [string, string][] = [
    ['00000000000000000000000000000000', '::'],
    ['00000000000000000000000000000001', '::1'],
    ['20010db8000000000001000000000001', '2001:db8::1:0:0:1'], // first of two equal runs
    ['20010db8000000010001000100010001', '2001:db8:0:1:1:1:1:1'], // one zero group is not ::
    ['20010db8000000000000000100000000', '2001:db8::1:0:0'], // the longer run wins
    ['00010000000000000000000000000000', '1::'],
    ['abcdef00000000000000000000000000', 'abcd:ef00::'],
    ['00000000000000000000ffff01020304', '::ffff:1.2.3.4'],
    ['00000000000000000000ffff00000000', '::ffff:0.0.0.0'],
    ['00000000000000000000000001020304', '::1.2.3.4'], // IPv4-compatible, as inet_ntop prints it
    ['0064ff9b000000000000000001020304', '64:ff9b::102:304'],
  ];
  for (const [bytes, text] of cases) {
    const buf = Buffer.from('04' + bytes + '0001', 'hex');
    assert.equal(readAddress(buf, 0)?.address.host, text, bytes);
    assert.equal(hex(encodeAddress(text, 1)), hex(buf), text);
  }
});

test('IPv6 input in any form encodes the same bytes; a zone is dropped', () => {
  const canonical = hex(encodeAddress('2001:db8::1', 9));
  for (const form of ['2001:DB8::1', '2001:0db8:0:0:0:0:0:0001', '2001:db8:0::0:1', '2001:db8::1%eth0']) {
    assert.equal(hex(encodeAddress(form, 9)), canonical, form);
  }
  assert.equal(hex(encodeAddress('::FFFF:102:304', 9)), hex(encodeAddress('::ffff:1.2.3.4', 9)));
  assert.equal(readAddress(encodeAddress('0:0:0:0:0:ffff:0102:0304', 9), 0)?.address.host, '::ffff:1.2.3.4');
});

test('a domain that looks like an IP literal is returned as sent (ATYP 3)', () => {
  const buf = Buffer.from('03' + '07' + ascii('1.2.3.4') + '0050', 'hex');
  assert.deepEqual(readAddress(buf, 0)?.address, { atyp: 3, host: '1.2.3.4', port: 80 });
});

test('writeAddress writes at an offset and returns the end', () => {
  const out = Buffer.alloc(20, 0xee);
  assert.equal(writeAddress(out, 3, '1.2.3.4', 258), 3 + 7);
  assert.equal(hex(out.subarray(0, 11)), 'eeeeee' + '01' + '01020304' + '0102' + 'ee');
  assert.throws(() => writeAddress(Buffer.alloc(4), 0, '1.2.3.4', 1), RangeError);
});

test('errors: unknown ATYP is reply 0x08, as soon as the type byte is there', () => {
  for (const atyp of [0, 2, 5, 0xff]) {
    assert.throws(() => readAddress(Buffer.from([atyp]), 0), { ...bad(Reply.ADDRESS_TYPE_NOT_SUPPORTED), message: new RegExp(`type ${atyp} is unknown`) });
  }
});

test('errors: empty or non-printable domain is reply 0x01', () => {
  assert.throws(() => readAddress(Buffer.from([3, 0]), 0), { ...bad(Reply.GENERAL_FAILURE), message: /empty/ });
  for (const byte of [0x00, 0x20, 0x7f, 0x80, 0xff]) {
    const buf = Buffer.from([3, 3, 0x61, byte, 0x62, 0, 80]);
    assert.throws(() => readAddress(buf, 0), { ...bad(Reply.GENERAL_FAILURE), message: /printable ASCII/ });
    // Only once the whole address is there: until then, more bytes are needed.
    assert.equal(readAddress(buf.subarray(0, 6), 0), undefined);
  }
});

test('errors: hosts and ports that cannot be encoded', () => {
  for (const host of ['', 'a b', 'tab\there', 'bücher.de', 'x'.repeat(MAX_DOMAIN + 1)]) {
    assert.throws(() => encodeAddress(host, 1), bad(Reply.GENERAL_FAILURE), host);
    assert.throws(() => encodedAddressLength(host), bad(Reply.GENERAL_FAILURE), host);
  }
  for (const port of [-1, 65536, 1.5, NaN]) {
    assert.throws(() => encodeAddress('1.2.3.4', port), { ...bad(Reply.GENERAL_FAILURE), message: /port/ });
  }
});
