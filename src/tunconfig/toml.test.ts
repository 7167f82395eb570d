// The same settings as TOML give the same TunnelConfig as the directive file;
// TOML errors name file:line too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../config/errors.js';
import { parseTunnelConfig, type TunnelConfig } from './index.js';
import { errorOf, SEED_SERVER } from './testing.js';

/** The config with what names the file (its path, and the locations in warnings) taken out. */
function sansFile(c: TunnelConfig): unknown {
  return { ...c, file: '', warnings: c.warnings.map((w) => w.replace(/^[^:]+:\d+: \S+: /, '')) };
}

function same(conf: string, toml: string): TunnelConfig {
  const a = parseTunnelConfig(conf, '/etc/insel/vpn.conf');
  const b = parseTunnelConfig(toml, '/etc/insel/vpn.toml');
  assert.deepEqual(sansFile(b), sansFile(a));
  return b;
}

test("seed 004's server.conf as TOML", () => {
  const c = same(SEED_SERVER, 'dev = "tun"\nifconfig = "10.0.0.1 10.0.0.2"\nsecret = "static.key"\ncomp_lzo = true\n');
  assert.equal(c.file, '/etc/insel/vpn.toml');
  assert.match(c.warnings[0]!, /^\/etc\/insel\/vpn\.toml:4: comp_lzo: .*VORACLE/);
});

test('a CA server: every server directive, both ways', () => {
  same(
    `port 1195
tcp-port 8443
proto udp
local 0.0.0.0
dev tun0
ca "ca file.pem"
cert server.pem
key server.key
crl-verify crl.pem
server 10.8.0.0 255.255.255.0
server-ipv6 fd00:8::/64
ifconfig-pool-persist ipp.txt 300
client-to-client
push "route 10.1.0.0 255.255.0.0"
push "route-ipv6 fd00:1::/64"
push "redirect-gateway def1"
route 10.2.0.0 255.255.0.0
route-ipv6 fd00:2::/64
keepalive 10 120
tun-mtu 1400
mssfix 1360
comp-lzo no
data-ciphers CHACHA20-POLY1305:AES-256-GCM
auth SHA256
user nobody
group nogroup
verb 3
status status.log 30
status-socket /run/insel/vpn.sock
max-clients 100
auth-user-pass-verify check.sh via-env
auth-users users.txt
nat eth0
`,
    `port = 1195
tcp_port = 8443
proto = "udp"
local = "0.0.0.0"
dev = "tun0"
ca = "ca file.pem"           # one argument: the string is taken whole
cert = "server.pem"
key = "server.key"
crl_verify = "crl.pem"
server = ["10.8.0.0", "255.255.255.0"]
server_ipv6 = "fd00:8::/64"
ifconfig_pool_persist = ["ipp.txt", 300]
client_to_client = true
push = ["route 10.1.0.0 255.255.0.0", "route-ipv6 fd00:1::/64", "redirect-gateway def1"]
route = [["10.2.0.0", "255.255.0.0"]]
route_ipv6 = "fd00:2::/64"
keepalive = [10, 120]
tun_mtu = 1400
mssfix = 1360
comp_lzo = "no"
data_ciphers = "CHACHA20-POLY1305:AES-256-GCM"
auth = "SHA256"
user = "nobody"
group = "nogroup"
verb = 3
status = "status.log 30"
status_socket = "/run/insel/vpn.sock"
max_clients = 100
auth_user_pass_verify = "check.sh via-env"
auth_users = "users.txt"
nat = "eth0"
`,
  );
});

test('a CA client: every client directive, both ways', () => {
  const c = same(
    'client\ndev tap\nproto tcp\nremote a.example.com 1194\nremote b.example.com\nprofile alice\nredirect-gateway def1\nauth-user-pass pass.txt\nhttp-proxy proxy.example.com 3128\ncipher AES-256-GCM\ndata-ciphers-fallback CHACHA20-POLY1305\ncompress lz4\n',
    `client = true
dev = "tap"
proto = "tcp"
remote = [["a.example.com", 1194], "b.example.com"]
profile = "alice"
redirect_gateway = "def1"
auth_user_pass = "pass.txt"
http_proxy = ["proxy.example.com", 3128]
cipher = "AES-256-GCM"
data_ciphers_fallback = "CHACHA20-POLY1305"
compress = "lz4"
client_to_client = false   # false: as if absent
`,
  );
  assert.equal(c.mode, 'client');
  assert.deepEqual(c.aeads, ['aes-256-gcm', 'chacha20-poly1305']);
});

test('TOML errors name file:line', () => {
  const F = '/etc/insel/t.toml';
  const cases: [string, number, RegExp][] = [
    ['dev = "tun"\nsecret = "k"\nifconfig = "10.0.0.1 10.0.0.2"\nkeepalve = [10, 60]\n', 4, /unknown key "keepalve"; did you mean keepalive\?/],
    ['dev = "tun"\ncomp-lzo = true\n', 2, /key "comp-lzo" is not snake_case; TOML keys spell directives with "_": comp_lzo/],
    ['dev = "tun"\n\nport = { udp = 1 }\n', 3, /port: is not a directive value; use true, a string, a number/],
    ['dev = "tun"\n[port]\nudp = 1\n', 2, /port: is not a directive value/],
    ['dev = "tun"\nifconfig = [["10.0.0.1"], "10.0.0.2"]\n', 2, /ifconfig: takes no nested lists/],
    ['dev = "tun"\nsecret = "k"\nifconfig = ["10.0.0.1", "10.0.0.2"]\nport = 1.5\n', 4, /port: port "1\.5" is not a whole number/],
    ['dev = "tun"\nsecret = "k"\nifconfig = "10.0.0.1 10.0.0.2"\nclient_to_client = "yes"\n', 4, /client_to_client: takes no arguments, not 1/],
    ['dev = "tun"\nsecret = "k"\nifconfig = "10.0.0.1 10.0.0.2"\nserver = "10.8.0.0 255.255.255.0"\n', 4, /server: does not belong in a static-key config \(secret at line 2\)/],
  ];
  for (const [text, line, re] of cases) assert.match(errorOf(text, line, F).message, re);
  // Syntax errors come from smol-toml via config/toml.ts: file:line:column.
  assert.throws(() => parseTunnelConfig('dev = "tun"\nport = \n', F), (err: Error) => err instanceof ConfigError && /^\/etc\/insel\/t\.toml:2:\d+: invalid TOML/.test(err.message));
});
