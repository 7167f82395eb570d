// Directive files → TunnelConfig: seed 004's pair unchanged, a CA server and
// client, and every directive's effect (a test below fails when a directive
// is added without a case here).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DIRECTIVES } from './directives.js';
import { DEFAULT_AEADS, DEFAULT_TCP_PORT, DEFAULT_UDP_PORT, parseTunnelConfig, type TunnelConfig } from './index.js';
import { CLIENT, FILE, SEED_CLIENT, SEED_SERVER, SERVER, STATIC } from './testing.js';

const parse = (text: string, file = FILE) => parseTunnelConfig(text, file);

test("seed 004's server.conf: static mode, the responder", () => {
  const c = parse(SEED_SERVER, '/home/a/vpn/server.conf');
  assert.deepEqual(c, {
    file: '/home/a/vpn/server.conf',
    mode: 'static',
    dev: { type: 'tun' },
    proto: 'udp',
    port: 1194,
    tcpPort: 443,
    remotes: [],
    ifconfig: { local: '10.0.0.1', remote: '10.0.0.2' },
    secret: '/home/a/vpn/static.key',
    clientToClient: false,
    push: [],
    redirectGateway: false,
    routes: [],
    routesIpv6: [],
    keepalive: { intervalS: 10, timeoutS: 60 },
    tunMtu: 1420,
    mssfix: 1420,
    compression: 'deflate',
    aeads: ['aes-256-gcm', 'chacha20-poly1305'],
    verb: 1,
    statusSocket: '/run/insel/tunnel-server.sock',
    maxClients: 1024,
    warnings: [c.warnings[0]],
  } satisfies TunnelConfig);
  assert.equal(c.warnings.length, 1);
  assert.match(c.warnings[0]!, /^\/home\/a\/vpn\/server\.conf:4: comp-lzo: .*VORACLE.*never compresses IP packets on the fast path/);
});

test("seed 004's client.conf: static mode, the initiator, with a host name or an address", () => {
  for (const server of ['vpn.example.com', '192.0.2.7', '2001:db8::7']) {
    const c = parse(SEED_CLIENT(server), '/home/b/client.conf');
    assert.equal(c.mode, 'static');
    assert.deepEqual(c.remotes, [{ host: server, port: DEFAULT_UDP_PORT, tcpPort: DEFAULT_TCP_PORT }]);
    assert.deepEqual(c.ifconfig, { local: '10.0.0.2', remote: '10.0.0.1' });
    assert.equal(c.secret, '/home/b/static.key');
    assert.equal(c.compression, 'deflate');
    assert.equal(c.statusSocket, '/run/insel/tunnel-client.sock');
  }
});

test('a CA server with pools, pushes, persistence, NAT and password checks', () => {
  const c = parse(
    [
      '# a typical OpenVPN server.conf, trimmed to what insel reads',
      'port 1194',
      'proto udp',
      'dev tun',
      'ca ca.crt',
      'cert server.crt',
      'key server.key  # keep this secret',
      'crl-verify crl.pem',
      'server 10.8.0.0 255.255.255.0',
      'server-ipv6 fd00:8::/64',
      'ifconfig-pool-persist ipp.txt',
      'push "route 192.168.10.0 255.255.255.0"',
      'push "route-ipv6 fd00:10::/64"',
      'push "redirect-gateway def1"',
      'client-to-client',
      'keepalive 10 120',
      'data-ciphers AES-256-GCM:CHACHA20-POLY1305',
      'max-clients 200',
      'user nobody',
      'group nogroup',
      'status openvpn-status.log',
      'verb 3',
      'nat eth0',
      'auth-users users.txt',
      'auth-user-pass-verify check.sh via-file',
    ].join('\n'),
    '/etc/insel/server.conf',
  );
  assert.equal(c.mode, 'server');
  assert.equal(c.ca, '/etc/insel/ca.crt');
  assert.equal(c.cert, '/etc/insel/server.crt');
  assert.equal(c.key, '/etc/insel/server.key');
  assert.equal(c.crlVerify, '/etc/insel/crl.pem');
  assert.deepEqual(c.server, { network: '10.8.0.0', netmask: '255.255.255.0', prefix: 24 });
  assert.deepEqual(c.serverIpv6, { network: 'fd00:8::', prefix: 64 });
  assert.deepEqual(c.poolPersist, { file: '/etc/insel/ipp.txt', seconds: 600 });
  assert.deepEqual(c.push, [
    { kind: 'route', network: '192.168.10.0', netmask: '255.255.255.0' },
    { kind: 'route-ipv6', network: 'fd00:10::', prefix: 64 },
    { kind: 'redirect-gateway' },
  ]);
  assert.equal(c.clientToClient, true);
  assert.deepEqual(c.keepalive, { intervalS: 10, timeoutS: 120 });
  assert.deepEqual(c.aeads, ['aes-256-gcm', 'chacha20-poly1305']);
  assert.equal(c.maxClients, 200);
  assert.equal(c.user, 'nobody');
  assert.equal(c.group, 'nogroup');
  assert.deepEqual(c.status, { file: '/etc/insel/openvpn-status.log', seconds: 60 });
  assert.equal(c.verb, 3);
  assert.deepEqual(c.nat, { outInterface: 'eth0' });
  assert.equal(c.authUsers, '/etc/insel/users.txt');
  assert.deepEqual(c.authUserPassVerify, { script: '/etc/insel/check.sh', method: 'via-file' });
  assert.deepEqual(c.warnings, []);
});

test('a CA client: remotes in order, redirect-gateway, password file, proxy; profile instead of ca/cert/key', () => {
  const c = parse(
    ['client', 'dev tun', 'proto udp', 'remote vpn1.example.com 1194', 'remote 198.51.100.2 1195', 'tcp-port 8443', 'ca ca.crt', 'cert client.crt', 'key client.key', 'redirect-gateway def1', 'auth-user-pass pass.txt', 'http-proxy proxy.example.com 3128'].join('\n'),
    '/home/c/client.conf',
  );
  assert.equal(c.mode, 'client');
  assert.deepEqual(c.remotes, [
    { host: 'vpn1.example.com', port: 1194, tcpPort: 8443 },
    { host: '198.51.100.2', port: 1195, tcpPort: 8443 },
  ]);
  assert.equal(c.redirectGateway, true);
  assert.equal(c.authUserPass, '/home/c/pass.txt');
  assert.deepEqual(c.httpProxy, { host: 'proxy.example.com', port: 3128 });

  const p = parse('dev tun\nremote vpn.example.com\nprofile alice\n', '/home/c/p.conf');
  assert.equal(p.mode, 'client', 'remote with a profile is a client, as remote with ca');
  assert.equal(p.profile, '/home/c/alice');
  assert.equal(p.ca, undefined);
  assert.equal(parse('dev tun\nremote vpn.example.com\nca ca.pem\ncert c.pem\nkey c.key\n').mode, 'client', 'remote with ca is a client');
});

/** One case per directive: a config using it, and what it must give. */
const CASES: Record<string, [string, (c: TunnelConfig) => void][]> = {
  dev: [
    [STATIC, (c) => assert.deepEqual(c.dev, { type: 'tun' })],
    [STATIC.replace('dev tun', 'dev tun3'), (c) => assert.deepEqual(c.dev, { type: 'tun', name: 'tun3' })],
    [STATIC.replace('dev tun', 'dev insel0'), (c) => assert.deepEqual(c.dev, { type: 'tun', name: 'insel0' })],
    [STATIC.replace('dev tun', 'dev tap').replace('10.0.0.2', '255.255.255.0'), (c) => {
      assert.deepEqual(c.dev, { type: 'tap' });
      assert.deepEqual(c.ifconfig, { local: '10.0.0.1', netmask: '255.255.255.0' });
    }],
    [STATIC.replace('dev tun', 'dev tap7').replace('10.0.0.2', '255.255.0.0'), (c) => assert.deepEqual(c.dev, { type: 'tap', name: 'tap7' })],
  ],
  proto: [[`${STATIC}proto tcp`, (c) => assert.equal(c.proto, 'tcp')], [STATIC, (c) => assert.equal(c.proto, 'udp')]],
  port: [[`${STATIC}port 5000\nremote peer.example.com`, (c) => {
    assert.equal(c.port, 5000);
    assert.equal(c.remotes[0]!.port, 5000, "a remote's port defaults to port, even when port comes first");
  }]],
  'tcp-port': [[`${CLIENT}tcp-port 8443`, (c) => {
    assert.equal(c.tcpPort, 8443);
    assert.equal(c.remotes[0]!.tcpPort, 8443);
  }]],
  local: [[`${SERVER}local 192.0.2.1`, (c) => assert.equal(c.local, '192.0.2.1')], [`${SERVER}local ::`, (c) => assert.equal(c.local, '::')]],
  remote: [[`remote a.example.com 2000\nremote b.example.com\nport 3000\n${STATIC}`, (c) => assert.deepEqual(c.remotes.map((r) => [r.host, r.port]), [['a.example.com', 2000], ['b.example.com', 3000]])]],
  ifconfig: [[STATIC, (c) => assert.deepEqual(c.ifconfig, { local: '10.0.0.1', remote: '10.0.0.2' })]],
  'ifconfig-ipv6': [
    [`${STATIC}ifconfig-ipv6 fd00:0::1/64 fd00::2`, (c) => assert.deepEqual(c.ifconfigIpv6, { local: 'fd00::1', prefix: 64, remote: 'fd00::2' })],
    ['dev tun\nsecret k\nifconfig-ipv6 fd00::1/64', (c) => {
      assert.deepEqual(c.ifconfigIpv6, { local: 'fd00::1', prefix: 64 });
      assert.equal(c.ifconfig, undefined, 'IPv6 alone is enough');
    }],
  ],
  secret: [
    [STATIC, (c) => assert.equal(c.secret, '/etc/insel/static.key')],
    [STATIC.replace('secret static.key', 'secret "/keys/my key" 1'), (c) => assert.equal(c.secret, '/keys/my key')],
  ],
  ca: [[SERVER, (c) => assert.equal(c.ca, '/etc/insel/ca.pem')]],
  cert: [[SERVER, (c) => assert.equal(c.cert, '/etc/insel/server.pem')]],
  key: [[SERVER, (c) => assert.equal(c.key, '/etc/insel/server.key')]],
  'crl-verify': [[`${SERVER}crl-verify ../crl.pem`, (c) => assert.equal(c.crlVerify, '/etc/crl.pem')]],
  profile: [['dev tun\nserver 10.8.0.0 255.255.0.0\nprofile /srv/gw', (c) => {
    assert.equal(c.profile, '/srv/gw');
    assert.equal(c.mode, 'server');
  }]],
  server: [[SERVER, (c) => assert.deepEqual(c.server, { network: '10.8.0.0', netmask: '255.255.255.0', prefix: 24 })]],
  'server-ipv6': [[SERVER.replace(/server 10.*\n/, 'server-ipv6 fd00:8:0::/112\n'), (c) => {
    assert.equal(c.mode, 'server', 'server-ipv6 alone makes a server');
    assert.deepEqual(c.serverIpv6, { network: 'fd00:8::', prefix: 112 });
  }]],
  client: [[CLIENT, (c) => assert.equal(c.mode, 'client')]],
  'ifconfig-pool-persist': [[`${SERVER}ifconfig-pool-persist /var/lib/insel/ipp.txt 0`, (c) => assert.deepEqual(c.poolPersist, { file: '/var/lib/insel/ipp.txt', seconds: 0 })]],
  'client-to-client': [[`${SERVER}client-to-client`, (c) => assert.equal(c.clientToClient, true)], [SERVER, (c) => assert.equal(c.clientToClient, false)]],
  push: [[`${SERVER}push "route 10.9.9.9"\npush 'route 10.1.0.0 255.255.0.0'`, (c) => assert.deepEqual(c.push, [
    { kind: 'route', network: '10.9.9.9', netmask: '255.255.255.255' },
    { kind: 'route', network: '10.1.0.0', netmask: '255.255.0.0' },
  ])]],
  'redirect-gateway': [[`${CLIENT}redirect-gateway def1`, (c) => assert.equal(c.redirectGateway, true)], [`${STATIC}remote peer\nredirect-gateway def1`, (c) => assert.equal(c.redirectGateway, true)]],
  route: [[`${STATIC}route 10.1.0.0 255.255.0.0\nroute 10.2.3.4\nroute 10.3.0.0 255.255.0.0 10.0.0.2`, (c) => assert.deepEqual(c.routes, [
    { network: '10.1.0.0', netmask: '255.255.0.0' },
    { network: '10.2.3.4', netmask: '255.255.255.255' },
    { network: '10.3.0.0', netmask: '255.255.0.0', gateway: '10.0.0.2' },
  ])]],
  'route-ipv6': [[`${STATIC}route-ipv6 2001:DB8:1::/48\nroute-ipv6 ::/0 fd00::1`, (c) => assert.deepEqual(c.routesIpv6, [
    { network: '2001:db8:1::', prefix: 48 },
    { network: '::', prefix: 0, gateway: 'fd00::1' },
  ])]],
  keepalive: [[`${STATIC}keepalive 5 30`, (c) => assert.deepEqual(c.keepalive, { intervalS: 5, timeoutS: 30 })]],
  'tun-mtu': [[`${STATIC}tun-mtu 1380`, (c) => {
    assert.equal(c.tunMtu, 1380);
    assert.equal(c.mssfix, 1380, 'mssfix follows tun-mtu by default');
  }]],
  mssfix: [
    [`${STATIC}mssfix 1300`, (c) => assert.equal(c.mssfix, 1300)],
    [`${STATIC}mssfix 0`, (c) => assert.equal(c.mssfix, 0)],
    [`${STATIC}mssfix\ntun-mtu 1400`, (c) => assert.equal(c.mssfix, 1400)],
  ],
  'comp-lzo': [
    [`${STATIC}comp-lzo no`, (c) => {
      assert.equal(c.compression, 'none');
      assert.deepEqual(c.warnings, []);
    }],
    [`${STATIC}comp-lzo adaptive`, (c) => assert.equal(c.compression, 'deflate')],
    [STATIC, (c) => assert.equal(c.compression, 'none')],
  ],
  compress: [
    [`${STATIC}compress lz4-v2`, (c) => {
      assert.equal(c.compression, 'deflate');
      assert.match(c.warnings[0]!, /^\/etc\/insel\/t\.conf:4: compress: .*VORACLE/);
    }],
    [`${STATIC}compress`, (c) => assert.equal(c.compression, 'none', 'a bare compress is framing only, as in OpenVPN')],
    [`${STATIC}compress stub-v2`, (c) => assert.equal(c.compression, 'none')],
  ],
  cipher: [
    [`${STATIC}cipher chacha20-poly1305`, (c) => assert.deepEqual(c.aeads, ['chacha20-poly1305'])],
    [`${STATIC}data-ciphers AES-256-GCM\ncipher CHACHA20-POLY1305`, (c) => assert.deepEqual(c.aeads, ['aes-256-gcm', 'chacha20-poly1305'])],
  ],
  'data-ciphers': [[`${STATIC}data-ciphers CHACHA20-POLY1305:AES-256-GCM`, (c) => assert.deepEqual(c.aeads, ['chacha20-poly1305', 'aes-256-gcm'])], [STATIC, (c) => assert.deepEqual(c.aeads, DEFAULT_AEADS)]],
  'data-ciphers-fallback': [[`${STATIC}data-ciphers CHACHA20-POLY1305\ndata-ciphers-fallback AES-256-GCM`, (c) => assert.deepEqual(c.aeads, ['chacha20-poly1305', 'aes-256-gcm'])]],
  auth: [[`${STATIC}auth SHA256`, (c) => assert.deepEqual(c.aeads, DEFAULT_AEADS, 'the AEAD authenticates: a sound digest changes nothing')]],
  user: [[`${STATIC}user nobody`, (c) => assert.equal(c.user, 'nobody')]],
  group: [[`${STATIC}group nogroup`, (c) => assert.equal(c.group, 'nogroup')]],
  verb: [[`${STATIC}verb 0`, (c) => assert.equal(c.verb, 0)], [STATIC, (c) => assert.equal(c.verb, 1)]],
  status: [[`${STATIC}status /var/log/insel-status.log 10`, (c) => assert.deepEqual(c.status, { file: '/var/log/insel-status.log', seconds: 10 })]],
  'status-socket': [[`${STATIC}status-socket run/t.sock`, (c) => assert.equal(c.statusSocket, '/etc/insel/run/t.sock')]],
  'max-clients': [[`${SERVER}max-clients 100`, (c) => assert.equal(c.maxClients, 100)], [SERVER, (c) => assert.equal(c.maxClients, 1024)]],
  'auth-user-pass-verify': [[`${SERVER}auth-user-pass-verify /usr/local/bin/check via-env`, (c) => assert.deepEqual(c.authUserPassVerify, { script: '/usr/local/bin/check', method: 'via-env' })]],
  'auth-users': [[`${SERVER}auth-users users`, (c) => assert.equal(c.authUsers, '/etc/insel/users')]],
  'auth-user-pass': [[`${CLIENT}auth-user-pass up.txt`, (c) => assert.equal(c.authUserPass, '/etc/insel/up.txt')]],
  'http-proxy': [[`${CLIENT}http-proxy 10.0.0.8 8080`, (c) => assert.deepEqual(c.httpProxy, { host: '10.0.0.8', port: 8080 })]],
  nat: [[`${SERVER}nat`, (c) => assert.deepEqual(c.nat, {})], [`${STATIC}nat eth1`, (c) => assert.deepEqual(c.nat, { outInterface: 'eth1' })]],
};

test('every directive has a case', () => {
  assert.deepEqual(Object.keys(CASES).sort(), Object.keys(DIRECTIVES).sort());
});

for (const [name, cases] of Object.entries(CASES)) {
  test(`directive ${name}`, () => {
    for (const [text, check] of cases) check(parse(text));
  });
}

test('OpenVPN spellings: --directive, CRLF, a byte order mark, trailing comments, quoted arguments', () => {
  const c = parse('\uFEFF--dev tun\r\n; comment\r\n  ifconfig 10.0.0.1 "10.0.0.2" # peer\r\n\r\nsecret \'static.key\'\r\n');
  assert.equal(c.mode, 'static');
  assert.deepEqual(c.ifconfig, { local: '10.0.0.1', remote: '10.0.0.2' });
  assert.equal(c.secret, '/etc/insel/static.key');
});

test('relative paths resolve against the config file, wherever the process runs', () => {
  assert.equal(parse(STATIC, 'conf/t.conf').secret, `${process.cwd()}/conf/static.key`);
  assert.equal(parse(STATIC, 'conf/t.conf').file, `${process.cwd()}/conf/t.conf`);
});
