import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AddressError, formatHostPort, isHostName, parseBindPort, parseHostPort } from './host-port.js';

test('parseHostPort: names, IPv4, IPv6, port checks', () => {
  assert.deepEqual(parseHostPort('gw.example.com:4433', '--via'), { host: 'gw.example.com', port: 4433 });
  assert.deepEqual(parseHostPort('[2001:db8::1]:4433', '--via'), { host: '2001:db8::1', port: 4433 });
  assert.deepEqual(parseHostPort('0.0.0.0:0', 'listen', { allowPortZero: true }), { host: '0.0.0.0', port: 0 });
  const bad: [string, RegExp][] = [
    ['gw.example.com', /the port is missing/],
    ['[::1]', /the port is missing/],
    ['::1:4433', /IPv6 addresses must be in brackets/],
    ['gw:0', /port 0 is out of range: use 1-65535/],
    ['gw:', /port is empty/],
    [':4433', /host is empty/],
    ['g w:1', /not a valid host name/],
  ];
  for (const [text, re] of bad) {
    assert.throws(
      () => parseHostPort(text, '--via'),
      (err: unknown) => err instanceof AddressError && err.code === 'INSEL_ADDRESS' && err.message.startsWith(`--via ${JSON.stringify(text)}: `) && re.test(err.message) && /expected HOST:PORT/.test(err.message),
      text,
    );
  }
});

test('parseBindPort: port alone, bind:port, IPv6, *', () => {
  assert.deepEqual(parseBindPort('2525', 'listen'), { bind: '127.0.0.1', port: 2525 });
  assert.deepEqual(parseBindPort('2525', 'listen', '0.0.0.0'), { bind: '0.0.0.0', port: 2525 });
  assert.deepEqual(parseBindPort('*:2525', 'listen'), { bind: '0.0.0.0', port: 2525 });
  assert.deepEqual(parseBindPort('[::1]:0', 'listen'), { bind: '::1', port: 0 });
  assert.throws(() => parseBindPort('a:b:c', 'listen'), /listen "a:b:c": too many/);
  assert.throws(() => parseBindPort('host', 'listen'), /port "host" is not a number; expected \[bind:\]port/);
});

test('formatHostPort brackets IPv6', () => {
  assert.equal(formatHostPort('::1', 80), '[::1]:80');
  assert.equal(formatHostPort('10.0.0.1', 80), '10.0.0.1:80');
});

test('isHostName', () => {
  for (const ok of ['a', 'localhost', 'a-b.c', 'xn--bcher-kva.example', 'host.'])
    assert.ok(isHostName(ok), ok);
  for (const bad of ['', '.', 'a..b', '-a', 'a-', 'a b', 'a/b', '1.2.3', '999', 'a.b.123', 'é.example', 'a\nb'])
    assert.ok(!isHostName(bad), bad);
});
