import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ForwardError } from './errors.js';
import { formatForwardSpec, parseForwardSpec, type ForwardKind } from './spec.js';

/** The spec error's message; fails on any other outcome. */
function specError(kind: ForwardKind, text: string): string {
  try {
    parseForwardSpec(kind, text);
  } catch (err) {
    assert.ok(err instanceof ForwardError, String(err));
    assert.equal(err.code, 'INSEL_FORWARD_SPEC');
    return err.message;
  }
  assert.fail(`parsed ${JSON.stringify(text)}`);
}

test('port:host:hostport binds loopback', () => {
  assert.deepEqual(parseForwardSpec('L', '8080:intranet.example:80'), {
    kind: 'L',
    bind: '127.0.0.1',
    port: 8080,
    host: 'intranet.example',
    hostPort: 80,
    text: '8080:intranet.example:80',
  });
});

test('bind addresses: IPv4, *, names, IPv6 in brackets', () => {
  assert.equal(parseForwardSpec('L', '0.0.0.0:8080:web:80').bind, '0.0.0.0');
  assert.equal(parseForwardSpec('L', '*:8080:web:80').bind, '0.0.0.0');
  assert.equal(parseForwardSpec('R', 'localhost:8080:web:80').bind, 'localhost');
  assert.equal(parseForwardSpec('L', '192.168.1.2:8080:web:80').bind, '192.168.1.2');
  const v6 = parseForwardSpec('L', '[::1]:8080:[2001:db8::1]:80');
  assert.deepEqual([v6.bind, v6.port, v6.host, v6.hostPort], ['::1', 8080, '2001:db8::1', 80]);
  assert.equal(parseForwardSpec('U', '[::]:5353:[fd00::53]:53').bind, '::');
});

test('hosts: names, IPv4, IPv6, port 0, underscores, trailing dot', () => {
  assert.equal(parseForwardSpec('L', '0:mail.example.com:25').port, 0);
  assert.equal(parseForwardSpec('L', '2525:10.1.2.3:25').host, '10.1.2.3');
  assert.equal(parseForwardSpec('L', '2525:[::ffff:10.1.2.3]:25').host, '::ffff:10.1.2.3');
  assert.equal(parseForwardSpec('L', '2525:_ldap.corp:389').host, '_ldap.corp');
  assert.equal(parseForwardSpec('L', '2525:mail.example.com.:25').host, 'mail.example.com.');
  assert.equal(parseForwardSpec('L', '2525:Mail-1.Example.COM:25').host, 'Mail-1.Example.COM');
  assert.equal(parseForwardSpec('L', '65535:h:65535').hostPort, 65535);
  const long = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
  assert.equal(long.length, 253);
  assert.equal(parseForwardSpec('L', `1:${long}:2`).host, long);
});

test('malformed specs quote the spec, the flag and the expected form', () => {
  const cases: [ForwardKind, string, RegExp][] = [
    ['L', '80:web', /expected \[bind:\]port:host:hostport \(e\.g\. -L 8080:intranet\.example:80\)/],
    ['L', '', /expected/],
    ['L', 'abc', /expected/],
    ['L', '8080:web:0', /hostport 0 is out of range: use 1-65535/],
    ['L', '8080:web:65536', /hostport 65536 is out of range/],
    ['L', '70000:web:80', /port 70000 is out of range: use 0-65535/],
    ['L', 'x:web:80', /port "x" is not a number/],
    ['L', '-1:web:80', /port "-1" is not a number/],
    ['L', '8080:web:', /hostport is empty/],
    ['L', '8080::80', /host is empty/],
    ['L', '8080:we b:80', /host "we b" is not a valid host name/],
    ['L', '8080:-web:80', /not a valid host name/],
    ['L', '8080:web..example:80', /not a valid host name/],
    ['L', `8080:${'a'.repeat(64)}.example:80`, /not a valid host name/],
    ['L', `8080:${'a.'.repeat(127)}com:80`, /not a valid host name/],
    ['L', '8080:10.0.0.256:80', /"10\.0\.0\.256" is not a valid IPv4 address/],
    ['L', '8080:10.1:80', /not a valid IPv4 address/],
    ['L', '::1:8080:web:80', /IPv6 addresses must be in brackets/],
    ['L', '8080:2001:db8::1:80', /IPv6 addresses must be in brackets/],
    ['L', '[::1:8080:web:80', /"\[" without a closing "\]"/],
    ['L', '[::1]8080:web:80', /"\]" must be followed by ":"/],
    ['L', '8080:[web.example]:80', /\[web\.example\] is not an IPv6 address/],
    ['L', '[8080]:web:80', /port \[8080\] is in brackets/],
    ['L', ':8080:web:80', /bind address is empty: leave it out for 127\.0\.0\.1, or write \* for all interfaces/],
    ['L', '1:2:3:4:5', /too many ":"-separated parts \(5\)/],
    ['L', 'a:b:c:d:e', /too many/],
    ['L', 'a]:1:b:2', /brackets may only enclose a whole IPv6 address/],
    ['R', '80:web', /-R "80:web": expected .*-R 8080:localhost:80/],
    ['U', 'dns:53', /-U "dns:53": expected .*-U 5353:dns\.internal:53/],
  ];
  for (const [kind, text, re] of cases) {
    const msg = specError(kind, text);
    assert.ok(msg.startsWith(`-${kind} ${JSON.stringify(text).slice(0, 100)}`), msg);
    assert.match(msg, re, msg);
    assert.match(msg, /expected \[bind:\]port:host:hostport/, msg);
  }
});

test('a huge spec is cut in the message', () => {
  const msg = specError('L', `8080:${'x'.repeat(5000)}:80`);
  assert.ok(msg.length < 600, `${msg.length}`);
});

test('formatting brackets IPv6 and round-trips', () => {
  const spec = parseForwardSpec('L', '[::1]:8080:[2001:db8::1]:80');
  assert.equal(formatForwardSpec(spec), '[::1]:8080:[2001:db8::1]:80');
  assert.equal(formatForwardSpec(parseForwardSpec('L', '8080:web:80')), '127.0.0.1:8080:web:80');
});
