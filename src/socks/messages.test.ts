// SOCKS5 handshake messages: RFC 1928/1929 byte layouts, incremental parsing
// (every prefix needs more, `used` exact when the next stage's bytes follow),
// and every malformed message with its code and reply.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Command,
  encodeAuthStatus,
  encodeMethodChoice,
  encodeReply,
  MAX_GREETING,
  MAX_REQUEST,
  MAX_USERPASS,
  Method,
  readGreeting,
  readRequest,
  readUserPass,
  Reply,
} from './messages.js';
import { encodeGreeting, encodeRequest, encodeUserPass, prefixes } from './testing.js';

const hex = (b: Buffer) => b.toString('hex');
const next = Buffer.from([0xde, 0xad]); // bytes of the next stage, pipelined by the client
const err = (code: string, reply: number | undefined, message?: RegExp) => ({ name: 'SocksError', code, reply, ...(message && { message }) });

/** `read` parses `msg` as `value`, needs more for each prefix, and stops exactly at its end. */
function incremental<T>(read: (b: Buffer) => { value: T; used: number } | undefined, msg: Buffer, value: T): void {
  for (const p of prefixes(msg)) assert.equal(read(p), undefined, `${p.length} of ${msg.length} bytes`);
  assert.deepEqual(read(msg), { value, used: msg.length });
  assert.deepEqual(read(Buffer.concat([msg, next])), { value, used: msg.length });
}

test('constants are RFC 1928 §3, §4, §6', () => {
  assert.deepEqual(Method, { NO_AUTH: 0, USERPASS: 2, NONE_ACCEPTABLE: 0xff });
  assert.deepEqual(Command, { CONNECT: 1, BIND: 2, UDP_ASSOCIATE: 3 });
  assert.deepEqual(Object.values(Reply), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
});

test('greeting: vectors, incremental, longest', () => {
  incremental(readGreeting, Buffer.from('050100', 'hex'), { methods: [0] });
  incremental(readGreeting, Buffer.from('05020002', 'hex'), { methods: [0, 2] });
  const longest = encodeGreeting(Array.from({ length: 255 }, (_, i) => i));
  assert.equal(longest.length, MAX_GREETING);
  incremental(readGreeting, longest, { methods: Array.from({ length: 255 }, (_, i) => i) });
  assert.equal(hex(encodeMethodChoice(Method.NO_AUTH)), '0500');
  assert.equal(hex(encodeMethodChoice(Method.USERPASS)), '0502');
  assert.equal(hex(encodeMethodChoice(Method.NONE_ACCEPTABLE)), '05ff');
});

test('greeting: wrong version names the likely client; no methods; no reply before the request', () => {
  assert.throws(() => readGreeting(Buffer.from([4])), err('INSEL_SOCKS_VERSION', undefined, /version 4 is not SOCKS5 .*socks5h:\/\//));
  assert.throws(() => readGreeting(Buffer.from('CONNECT example.com:443 HTTP/1.1\r\n')), err('INSEL_SOCKS_VERSION', undefined, /version 67 .*not an HTTP proxy/));
  assert.throws(() => readGreeting(Buffer.from([0])), err('INSEL_SOCKS_VERSION', undefined, /version 0 .*expected 5/));
  assert.throws(() => readGreeting(Buffer.from([5, 0])), err('INSEL_SOCKS_GREETING', undefined, /no authentication method/));
});

test('username/password (RFC 1929): vectors, incremental, longest', () => {
  const msg = Buffer.from('01' + '05' + Buffer.from('alice').toString('hex') + '06' + Buffer.from('s3cret').toString('hex'), 'hex');
  assert.ok(msg.equals(encodeUserPass('alice', 's3cret')));
  incremental(readUserPass, msg, { username: 'alice', password: 's3cret' });
  incremental(readUserPass, encodeUserPass('bob', ''), { username: 'bob', password: '' });
  incremental(readUserPass, encodeUserPass('jörg', 'pässwört ✓'), { username: 'jörg', password: 'pässwört ✓' });
  const longest = encodeUserPass('u'.repeat(255), 'p'.repeat(255));
  assert.equal(longest.length, MAX_USERPASS);
  incremental(readUserPass, longest, { username: 'u'.repeat(255), password: 'p'.repeat(255) });
  assert.equal(hex(encodeAuthStatus(true)), '0100');
  assert.equal(hex(encodeAuthStatus(false)), '0101');
});

test('username/password: invalid UTF-8 decodes with U+FFFD instead of throwing', () => {
  assert.deepEqual(readUserPass(Buffer.from('0101ff01c3', 'hex'))?.value, { username: '\ufffd', password: '\ufffd' });
});

test('username/password: wrong version, empty username', () => {
  assert.throws(() => readUserPass(Buffer.from([5])), err('INSEL_SOCKS_AUTH', undefined, /version 5 is unknown \(expected 1/));
  assert.throws(() => readUserPass(Buffer.from([1, 0])), err('INSEL_SOCKS_AUTH', undefined, /username is empty/));
});

test('request: CONNECT to each address type, UDP ASSOCIATE 0.0.0.0:0, any command byte', () => {
  incremental(readRequest, Buffer.from('05010001' + '0a000005' + '0016', 'hex'), { command: Command.CONNECT, address: { atyp: 1, host: '10.0.0.5', port: 22 } });
  incremental(readRequest, encodeRequest(Command.CONNECT, 'example.com', 443), { command: 1, address: { atyp: 3, host: 'example.com', port: 443 } });
  incremental(readRequest, encodeRequest(Command.CONNECT, '2001:db8::5', 80), { command: 1, address: { atyp: 4, host: '2001:db8::5', port: 80 } });
  incremental(readRequest, encodeRequest(Command.UDP_ASSOCIATE, '0.0.0.0', 0), { command: 3, address: { atyp: 1, host: '0.0.0.0', port: 0 } });
  for (const command of [Command.BIND, 0, 4, 0xff]) {
    assert.equal(readRequest(encodeRequest(command, 'h', 1))?.value.command, command);
  }
  const longest = encodeRequest(Command.CONNECT, 'd'.repeat(255), 1);
  assert.equal(longest.length, MAX_REQUEST);
  incremental(readRequest, longest, { command: 1, address: { atyp: 3, host: 'd'.repeat(255), port: 1 } });
});

test('request: every error carries the reply to send', () => {
  assert.throws(() => readRequest(Buffer.from([4])), err('INSEL_SOCKS_VERSION', Reply.GENERAL_FAILURE, /request: version 4/));
  assert.throws(() => readRequest(Buffer.from([5, 1, 1])), err('INSEL_SOCKS_REQUEST', Reply.GENERAL_FAILURE, /reserved byte is 1/));
  assert.throws(() => readRequest(Buffer.from([5, 1, 0, 2])), err('INSEL_SOCKS_ADDRESS', Reply.ADDRESS_TYPE_NOT_SUPPORTED));
  assert.throws(() => readRequest(Buffer.from([5, 1, 0, 3, 0])), err('INSEL_SOCKS_ADDRESS', Reply.GENERAL_FAILURE, /empty/));
  assert.throws(() => readRequest(Buffer.from('05010003' + '02' + '6120' + '0050', 'hex')), err('INSEL_SOCKS_ADDRESS', Reply.GENERAL_FAILURE, /printable/));
});

test('reply: default bound address 0.0.0.0:0, IPv4 and IPv6 bound addresses', () => {
  assert.equal(hex(encodeReply(Reply.SUCCEEDED)), '050000' + '01' + '00000000' + '0000');
  assert.equal(hex(encodeReply(Reply.COMMAND_NOT_SUPPORTED)), '050700' + '01' + '00000000' + '0000');
  assert.equal(hex(encodeReply(Reply.SUCCEEDED, '127.0.0.1', 40000)), '050000' + '01' + '7f000001' + '9c40');
  assert.equal(hex(encodeReply(Reply.SUCCEEDED, '::1', 1080)), '050000' + '04' + '00'.repeat(15) + '01' + '0438');
});
