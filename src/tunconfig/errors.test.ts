// Every way a tunnel config is refused: the message starts with file:line:,
// names the directive and gives a hint (errorOf checks the first and last).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CLIENT, errorOf, SERVER, STATIC } from './testing.js';

/** [config text, line of the error, what the message must say] */
type Case = [string, number, RegExp];

function check(cases: Case[]): void {
  for (const [text, line, re] of cases) assert.match(errorOf(text, line).message, re);
}

test('unknown directives: did you mean, OpenVPN-only ones, others', () => {
  check([
    [`${STATIC}keepalve 10 60`, 4, /unknown directive "keepalve"; did you mean keepalive\?/],
    [`${STATIC}comp-lz0`, 4, /did you mean comp-lzo\?/],
    [`${STATIC}persist-key`, 4, /unknown directive "persist-key"; an OpenVPN directive insel does not read .*: remove it/],
    [`${STATIC}frobnicate now`, 4, /unknown directive "frobnicate"; docs\/TUNNEL-CONFIG\.md lists/],
    ['<ca>\n-----BEGIN CERTIFICATE-----\n</ca>', 1, /inline blocks \("<ca>"\) are not supported; save the PEM .* write ca FILE/],
  ]);
});

test('argument counts and repeats', () => {
  check([
    [`${STATIC}keepalive 10`, 4, /keepalive: takes 2 arguments, not 1; usage: keepalive INTERVAL TIMEOUT/],
    [`${STATIC}client-to-client yes`, 4, /client-to-client: takes no arguments, not 1/],
    [`${STATIC}remote a 1 udp`, 4, /remote: takes 1 to 2 arguments, not 3; usage: remote HOST \[PORT\]/],
    [`${STATIC}mssfix 1400 mtu`, 4, /mssfix: takes at most 1 argument, not 2/],
    [`${STATIC}dev tap`, 4, /dev: given twice \(first at line 1\); keep one/],
    [`${STATIC}crl-verify dir crl`, 4, /'dir' form is not supported/],
  ]);
});

test('lines OpenVPN would not split', () => {
  check([
    [`${STATIC}push "route 10.0.0.0`, 4, /^\S+:4: no closing quotation mark/],
    [`secret C:\\keys\\static.key\n`, 1, /a backslash before "k"; .*single quotes/],
  ]);
});

test('bad values', () => {
  check([
    ['dev tun/../x\nsecret k\nifconfig 10.0.0.1 10.0.0.2', 1, /dev: "tun\/\.\.\/x" is not a network interface name/],
    [STATIC.replace('dev tun', 'dev null'), 1, /use dev tun or dev tap/],
    [`${STATIC}proto udp6`, 4, /proto: insel does not need udp6; write proto udp/],
    [`${STATIC}proto sctp`, 4, /unknown protocol "sctp"/],
    [`${STATIC}port 70000`, 4, /port: port 70000 is out of range; use 1 to 65535/],
    [`${STATIC}port -1`, 4, /port "-1" is not a whole number/],
    [`${STATIC}tcp-port 0`, 4, /tcp-port: port 0 is out of range/],
    [`${STATIC}local not_a_host!`, 4, /local: "not_a_host!" is not a host name or IP address/],
    [`${STATIC}remote -x-`, 4, /remote: "-x-" is not a host name/],
    ['dev tun\nifconfig 10.0.0.1 10.0.0.256\nsecret k', 2, /ifconfig: address "10\.0\.0\.256" is not an IPv4 address/],
    ['dev tun\nifconfig 10.0.0.1 255.255.255.0\nsecret k', 2, /looks like a netmask, but a tun device is point to point; .*dev tap/],
    ['dev tun\nifconfig 10.0.0.1 10.0.0.1\nsecret k', 2, /both 10\.0\.0\.1/],
    ['dev tap\nifconfig 10.0.0.1 255.0.255.0\nsecret k', 2, /netmask 255\.0\.255\.0 is not contiguous/],
    [`${STATIC}ifconfig-ipv6 fd00::1`, 4, /is not ADDRESS\/PREFIX; e\.g\. ifconfig-ipv6 fd00::1\/64 fd00::2/],
    [`${STATIC}ifconfig-ipv6 fe80::1%eth0/64`, 4, /is not an IPv6 address/],
    [`${STATIC}ifconfig-ipv6 fd00::1/129`, 4, /prefix \/129 is out of range/],
    [`${STATIC}ifconfig-ipv6 fd00::1/64 10.0.0.2`, 4, /remote address "10\.0\.0\.2" is not an IPv6 address/],
    [STATIC.replace('static.key', 'static.key 2'), 3, /key direction "2" is not 0 or 1/],
    [STATIC.replace('static.key', '""'), 3, /secret: the file name is empty/],
    [SERVER.replace('10.8.0.0 ', '10.8.0.1 '), 2, /server: 10\.8\.0\.1 has host bits set for netmask 255\.255\.255\.0; the network is 10\.8\.0\.0/],
    [SERVER.replace('255.255.255.0', '255.255.255.254'), 2, /a \/31 pool has no room for clients/],
    [`${SERVER}server-ipv6 fd00::/48`, 6, /server-ipv6: network prefix \/48 is out of range; use \/64 to \/124/],
    [`${SERVER}server-ipv6 fd00::1/64`, 6, /fd00::1\/64 has host bits set for \/64/],
    [`${SERVER}ifconfig-pool-persist ipp.txt soon`, 6, /seconds "soon" is not a whole number/],
    [`${STATIC}route 10.1.0.0 255.0.255.0`, 4, /route: netmask 255\.0\.255\.0 is not contiguous/],
    [`${STATIC}route 10.1.0.0 255.255.0.0 gw`, 4, /gateway "gw" is not an IPv4 address/],
    [`${STATIC}route-ipv6 fd00:1::1/64`, 4, /host bits set/],
    [`${STATIC}route-ipv6 fd00:1::/64 10.0.0.1`, 4, /gateway "10\.0\.0\.1" is not an IPv6 address/],
    [`${STATIC}keepalive 10 15`, 4, /keepalive: the timeout \(15s\) is shorter than two intervals \(20s\)/],
    [`${STATIC}keepalive 0 60`, 4, /interval 0 is out of range/],
    [`${STATIC}tun-mtu 100`, 4, /tun-mtu: MTU 100 is out of range; use 576 to 9000/],
    [`${STATIC}ifconfig-ipv6 fd00::1/64\ntun-mtu 1200`, 5, /1200 is below IPv6's minimum MTU of 1280/],
    [`${STATIC}tun-mtu 1400\nmssfix 1450`, 5, /mssfix: 1450 is above tun-mtu 1400/],
    [`${STATIC}comp-lzo maybe`, 4, /comp-lzo: unknown mode "maybe"/],
    [`${STATIC}compress zstd`, 4, /compress: unknown or unsupported algorithm "zstd"/],
    [`${STATIC}user "a b"`, 4, /user: "a b" is not a user name/],
    [`${STATIC}group -g`, 4, /group: "-g" is not a group name/],
    [`${STATIC}verb 12`, 4, /verb: level 12 is out of range; use 0 to 11/],
    [`${STATIC}status s.log 0`, 4, /seconds 0 is out of range/],
    [`${STATIC}status-socket /${'x'.repeat(120)}`, 4, /longer than a UNIX socket path may be/],
    [`${SERVER}max-clients 0`, 6, /max-clients: count 0 is out of range/],
    [`${SERVER}auth-user-pass-verify check.sh via-shell`, 6, /unknown method "via-shell"; use via-env or via-file/],
    [`${CLIENT}http-proxy proxy 0`, 7, /http-proxy: port 0 is out of range/],
    [`${CLIENT}http-proxy proxy 3128 auth.txt basic`, 7, /proxy authentication is not supported/],
    [`${STATIC}nat eth0/1`, 4, /nat: "eth0\/1" is not a network interface name/],
  ]);
});

test('old and unknown ciphers and digests are refused naming AES-256-GCM and CHACHA20-POLY1305', () => {
  const modern = /use AES-256-GCM or CHACHA20-POLY1305/;
  for (const [line, why] of [
    ['cipher BF-CBC', /BF-CBC is broken/],
    ['cipher DES-EDE3-CBC', /DES-EDE3-CBC is broken/],
    ['cipher des-cbc', /des-cbc is broken/],
    ['cipher RC4', /RC4 is broken/],
    ['cipher IDEA-CBC', /IDEA-CBC is broken/],
    ['cipher BF-CFB', /BF-CFB is broken/],
    ['cipher AES-256-CBC', /AES-256-CBC is a CBC cipher/],
    ['cipher CAMELLIA-128-CBC', /a CBC cipher/],
    ['cipher AES-128-GCM', /uses 256-bit keys/],
    ['cipher none', /always encrypts/],
    ['cipher ROT13', /unknown or unsupported cipher ROT13/],
    ['data-ciphers AES-256-GCM:BF-CBC', /BF-CBC is broken/],
    ['data-ciphers AES-256-GCM:AES-128-GCM', /uses 256-bit keys/],
    ['data-ciphers AES-256-GCM:', /empty cipher name/],
    ['data-ciphers AES-256-GCM:aes-256-gcm', /listed twice/],
    ['data-ciphers-fallback BF-CBC', /BF-CBC is broken/],
  ] as const) {
    const m = errorOf(`${STATIC}${line}`, 4).message;
    assert.match(m, why);
    assert.match(m, modern);
  }
  for (const [line, why] of [
    ['auth MD5', /MD5 is broken/],
    ['auth SHA1', /SHA1 is broken/],
    ['auth WHIRLPOOL', /unknown digest WHIRLPOOL/],
  ] as const) {
    const m = errorOf(`${STATIC}${line}`, 4).message;
    assert.match(m, why);
    assert.match(m, /AES-256-GCM or CHACHA20-POLY1305/);
  }
});

test('push: route, route-ipv6 and redirect-gateway def1 only', () => {
  check([
    [`${SERVER}push "dhcp-option DNS 10.8.0.1"`, 6, /push: insel does not push "dhcp-option"; insel pushes "route NET MASK"/],
    [`${SERVER}push "route 10.1.0.0 255.255.0.0 10.8.0.1"`, 6, /is not route NET \[MASK\]/],
    [`${SERVER}push "route 10.1.0.1 255.255.0.0"`, 6, /host bits set/],
    [`${SERVER}push "route-ipv6 fd00::/64 fd00::1"`, 6, /is not route-ipv6 NET\/PREFIX/],
    [`${SERVER}push "redirect-gateway"`, 6, /def1 only/],
    [`${SERVER}push "redirect-gateway def1 bypass-dhcp"`, 6, /def1 only/],
    [`${SERVER}push ""`, 6, /insel does not push ""/],
    [`${SERVER}push "route '10.1.0.0"`, 6, /in "route '10\.1\.0\.0": no closing single quotation mark/],
    [`${CLIENT}redirect-gateway local`, 7, /insel redirects with def1 only, not "local"/],
  ]);
});

test('modes: contradictions and what each mode needs', () => {
  check([
    ['dev tun\nifconfig 10.0.0.1 10.0.0.2\n', 1, /no mode: neither secret, server nor client; add secret FILE/],
    ['dev tun\nremote vpn.example.com\ncert c.pem\n', 2, /remote: a peer needs keys; add secret FILE .* or ca, cert and key/],
    [`${STATIC}server 10.8.0.0 255.255.255.0`, 4, /server: does not belong in a static-key config \(secret at line 3\); it is for a CA server .*: remove it, or remove secret/],
    [`${STATIC}ca ca.pem`, 4, /ca: does not belong in a static-key config \(secret at line 3\); it is for CA mode/],
    [`${STATIC}push "route 10.1.0.0 255.255.0.0"`, 4, /push: does not belong in a static-key config/],
    [`${SERVER}client`, 6, /client: does not belong in a CA server config \(server at line 2\)/],
    [`${SERVER}ifconfig 10.8.0.1 10.8.0.2`, 6, /ifconfig: does not belong in a CA server config .*; a server takes its address from server NETWORK NETMASK/],
    [`${SERVER}redirect-gateway def1`, 6, /push it to the clients instead: push "redirect-gateway def1"/],
    [`${SERVER}remote peer.example.com`, 6, /a server waits for its clients/],
    [`${SERVER}auth-user-pass up.txt`, 6, /auth-user-pass: does not belong in a CA server config .*it is for a CA client/],
    [`${CLIENT}push "route 10.1.0.0 255.255.0.0"`, 7, /push: does not belong in a CA client config \(client at line 1\)/],
    [`${CLIENT}ifconfig 10.8.0.6 10.8.0.5`, 7, /a client gets its address from the server/],
    [`${CLIENT}max-clients 10`, 7, /it is for a CA server/],
    ['client\ndev tun\nremote vpn.example.com\n', 1, /client: a CA client config needs ca, cert, key; add ca FILE .* or profile DIR/],
    ['client\ndev tun\nremote vpn.example.com\nca ca.pem\n', 1, /needs cert, key/],
    ['dev tun\nserver 10.8.0.0 255.255.255.0\nca ca.pem\n', 2, /server: a CA server config needs cert, key/],
    ['client\ndev tun\nca ca.pem\ncert c.pem\nkey c.key\n', 1, /client: a client needs the server address; add remote HOST/],
    [`${CLIENT}profile alice`, 7, /profile: both profile \(line 7\) and key \(line 6\); set either profile DIR or ca, cert, key/],
    [`${STATIC}redirect-gateway def1`, 4, /needs remote/],
    [`${STATIC}comp-lzo\ncompress lz4`, 5, /both comp-lzo and compress/],
    ['secret k\nifconfig 10.0.0.1 10.0.0.2\n', 1, /no dev; add dev tun/],
    ['dev tun\nsecret k\n', 2, /secret: a static-key end needs its tunnel addresses; add ifconfig LOCAL REMOTE/],
  ]);
});

test('the error is a ConfigError naming the file and the directive', () => {
  const err = errorOf(`${STATIC}port 0`, 4);
  assert.equal(err.code, 'INSEL_CONFIG');
  assert.equal(err.file, '/etc/insel/t.conf');
  assert.equal(err.field, 'port');
});
