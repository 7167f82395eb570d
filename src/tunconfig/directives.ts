// The directives `insel tunnel` reads: OpenVPN's most used subset, insel's
// extensions (tcp-port, profile, nat, auth-users, status-socket) and the
// client's auth-user-pass and http-proxy. Each entry checks its arguments
// and records them in the draft; what depends on other directives (the
// mode, defaults, cross checks) is finish.ts's. docs/TUNNEL-CONFIG.md is
// the reference table of this file.
import { resolve } from 'node:path';
import { quote } from '../errors.js';
import { isHost } from '../net/host-port.js';
import { ipv4, ipv4Network, ipv6, ipv6Cidr, ipv6Network, type Fail } from './addresses.js';
import { aead, aeadList, authDigest } from './ciphers.js';
import { DEFAULT_POOL_PERSIST_SECONDS, DEFAULT_STATUS_SECONDS } from './defaults.js';
import type { Draft } from './draft.js';
import { splitLine } from './line.js';
import type { PushOption, TunnelMode } from './types.js';
import { located, type Where } from './where.js';

interface Spec {
  /** least and most arguments */
  args: [number, number];
  /** shown when the argument count is wrong */
  usage: string;
  /** the modes the directive belongs to: anything else is a contradiction (finish.ts) */
  modes: readonly TunnelMode[];
  repeat?: true;
  apply: (d: Draft, a: string[], x: { fail: Fail; at: Where }) => void;
}

const ALL = ['static', 'server', 'client'] as const;
const CA = ['server', 'client'] as const;
const SERVER = ['server'] as const;
const CLIENT = ['client'] as const;

/** Linux IFNAMSIZ - 1; "%d" lets the kernel number it. */
const IFNAME = /^[A-Za-z0-9_.%-]{1,15}$/;
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$/;
/** sockaddr_un's sun_path holds 107 bytes and a NUL. */
const SOCKET_PATH_MAX = 107;
const TUN_MTU = { min: 576, max: 9000 };

function int(text: string, what: string, min: number, max: number, fail: Fail, example: string): number {
  if (!/^[0-9]{1,9}$/.test(text)) fail(`${what} ${quote(text)} is not a whole number`, `e.g. ${example}`);
  const n = Number(text);
  if (n < min || n > max) fail(`${what} ${n} is out of range`, `use ${min} to ${max}, e.g. ${example}`);
  return n;
}

const port = (text: string, fail: Fail, example: string) => int(text, 'port', 1, 65535, fail, example);

function path(d: Draft, text: string, fail: Fail): string {
  if (text === '') fail('the file name is empty', 'name a file; relative paths are relative to the config file');
  return resolve(d.dir, text);
}

function ifname(text: string, fail: Fail, example: string): string {
  if (!IFNAME.test(text) || text === '.' || text === '..') fail(`${quote(text)} is not a network interface name`, `at most 15 letters, digits, ".", "_" or "-", e.g. ${example}`);
  return text;
}

function host(text: string, fail: Fail, example: string): string {
  if (!isHost(text)) fail(`${quote(text)} is not a host name or IP address`, `e.g. ${example}`);
  return text;
}

const VORACLE =
  'compressing before encrypting lets an attacker who can inject traffic read secrets from packet sizes (VORACLE, 2018), so insel never compresses IP packets on the fast path: the tunnel carries them uncompressed; remove the directive to silence this warning';

function compression(d: Draft, on: boolean, at: Where, name: string): void {
  d.cfg.compression = on ? 'deflate' : 'none';
  if (on) d.cfg.warnings!.push(located(at, name, VORACLE));
}

const ROUTE_EXAMPLE = 'route 10.1.0.0 255.255.0.0';
const ROUTE6_EXAMPLE = 'route-ipv6 fd00:1::/64';

function pushOption(text: string, fail: Fail): PushOption {
  const inner = splitLine(text, (problem, hint) => fail(`in ${quote(text)}: ${problem}`, hint));
  const [what, ...a] = inner;
  const only = (n: number, usage: string) => {
    if (a.length < 1 || a.length > n) fail(`${quote(text)} is not ${usage}`, `insel pushes routes through the tunnel: push "${usage}"`);
  };
  if (what === 'route') {
    only(2, 'route NET [MASK]');
    const netmask = a[1] ?? '255.255.255.255';
    ipv4Network(a[0]!, netmask, fail, `push "${ROUTE_EXAMPLE}"`);
    return { kind: 'route', network: a[0]!, netmask };
  }
  if (what === 'route-ipv6') {
    only(1, 'route-ipv6 NET/PREFIX');
    return { kind: 'route-ipv6', ...ipv6Network(a[0]!, 'network', fail, `push "${ROUTE6_EXAMPLE}"`) };
  }
  if (what === 'redirect-gateway') {
    if (a.length !== 1 || a[0] !== 'def1') fail(`${quote(text)}: insel redirects with def1 only`, 'push "redirect-gateway def1"');
    return { kind: 'redirect-gateway' };
  }
  return fail(`insel does not push ${quote(what ?? '')}`, 'insel pushes "route NET MASK", "route-ipv6 NET/PREFIX" and "redirect-gateway def1"');
}

export const DIRECTIVES: Record<string, Spec> = {
  dev: {
    args: [1, 1],
    usage: 'dev tun|tap|NAME',
    modes: ALL,
    apply: (d, [a], { fail }) => {
      if (a === 'tun' || a === 'tap') d.cfg.dev = { type: a };
      else if (a === 'null') fail('a null device carries nothing', 'use dev tun or dev tap');
      else d.cfg.dev = { type: a!.startsWith('tap') ? 'tap' : 'tun', name: ifname(a!, fail, 'dev tun0, dev insel0') };
    },
  },
  proto: {
    args: [1, 1],
    usage: 'proto udp|tcp',
    modes: ALL,
    apply: (d, [a], { fail }) => {
      if (a === 'udp' || a === 'tcp') d.cfg.proto = a;
      else if (/^(udp|tcp)[46]?(-client|-server)?$/.test(a!)) fail(`insel does not need ${a}`, `write proto ${a!.slice(0, 3)}: the address family follows local/remote, client or server follows the mode`);
      else fail(`unknown protocol ${quote(a!)}`, 'use proto udp or proto tcp');
    },
  },
  port: { args: [1, 1], usage: 'port N (UDP)', modes: ALL, apply: (d, [a], { fail }) => void (d.cfg.port = port(a!, fail, 'port 1194')) },
  'tcp-port': { args: [1, 1], usage: 'tcp-port N (TLS over TCP)', modes: ALL, apply: (d, [a], { fail }) => void (d.cfg.tcpPort = port(a!, fail, 'tcp-port 443')) },
  local: { args: [1, 1], usage: 'local ADDRESS', modes: ALL, apply: (d, [a], { fail }) => void (d.cfg.local = host(a!, fail, 'local 0.0.0.0')) },
  remote: {
    args: [1, 2],
    usage: 'remote HOST [PORT]',
    modes: ['static', 'client'],
    repeat: true,
    apply: (d, [h, p], { fail }) => {
      d.remotes.push({ host: host(h!, fail, 'remote vpn.example.com 1194'), ...(p === undefined ? {} : { port: port(p, fail, 'remote vpn.example.com 1194') }) });
    },
  },
  ifconfig: {
    args: [2, 2],
    usage: 'ifconfig LOCAL REMOTE (tun) or ifconfig IP NETMASK (tap)',
    modes: ['static'],
    apply: (d, [a, b], { fail }) => {
      d.ifconfig = [ipv4(a!, 'address', fail, 'ifconfig 10.0.0.1 10.0.0.2'), ipv4(b!, 'address', fail, 'ifconfig 10.0.0.1 10.0.0.2')];
    },
  },
  'ifconfig-ipv6': {
    args: [1, 2],
    usage: 'ifconfig-ipv6 ADDRESS/PREFIX [REMOTE]',
    modes: ['static'],
    apply: (d, [a, r], { fail }) => {
      const ex = 'ifconfig-ipv6 fd00::1/64 fd00::2';
      const { address, prefix } = ipv6Cidr(a!, 'address', fail, ex, 1);
      d.cfg.ifconfigIpv6 = { local: address, prefix, ...(r === undefined ? {} : { remote: ipv6(r, 'remote address', fail, ex) }) };
    },
  },
  secret: {
    args: [1, 2],
    usage: 'secret FILE [0|1]',
    modes: ['static'],
    apply: (d, [f, dir], { fail }) => {
      // OpenVPN's key direction picks halves of the key; insel derives a key per sender (PROTOCOL §6), so it is accepted and not needed.
      if (dir !== undefined && dir !== '0' && dir !== '1') fail(`key direction ${quote(dir)} is not 0 or 1`, 'leave it out: insel derives a key per direction itself');
      d.cfg.secret = path(d, f!, fail);
    },
  },
  ca: { args: [1, 1], usage: 'ca FILE (PEM)', modes: CA, apply: (d, [f], { fail }) => void (d.cfg.ca = path(d, f!, fail)) },
  cert: { args: [1, 1], usage: 'cert FILE (PEM)', modes: CA, apply: (d, [f], { fail }) => void (d.cfg.cert = path(d, f!, fail)) },
  key: { args: [1, 1], usage: 'key FILE (PEM, mode 0600)', modes: CA, apply: (d, [f], { fail }) => void (d.cfg.key = path(d, f!, fail)) },
  'crl-verify': { args: [1, 1], usage: "crl-verify FILE (one PEM file; OpenVPN's 'dir' form is not supported)", modes: CA, apply: (d, [f], { fail }) => void (d.cfg.crlVerify = path(d, f!, fail)) },
  profile: { args: [1, 1], usage: 'profile DIR (from insel pki export)', modes: CA, apply: (d, [f], { fail }) => void (d.cfg.profile = path(d, f!, fail)) },
  server: {
    args: [2, 2],
    usage: 'server NETWORK NETMASK',
    modes: SERVER,
    apply: (d, [n, m], { fail }) => {
      const prefix = ipv4Network(n!, m!, fail, 'server 10.8.0.0 255.255.255.0');
      if (prefix > 30) fail(`a /${prefix} pool has no room for clients`, 'use a netmask of 255.255.255.252 or shorter, e.g. server 10.8.0.0 255.255.255.0');
      d.cfg.server = { network: n!, netmask: m!, prefix };
    },
  },
  'server-ipv6': {
    args: [1, 1],
    usage: 'server-ipv6 NETWORK/PREFIX',
    modes: SERVER,
    // OpenVPN's bounds: a pool of at least 16 addresses, at most a /64.
    apply: (d, [n], { fail }) => void (d.cfg.serverIpv6 = ipv6Network(n!, 'network', fail, 'server-ipv6 fd00:8::/64', 64, 124)),
  },
  client: { args: [0, 0], usage: 'client', modes: CLIENT, apply: () => {} },
  'ifconfig-pool-persist': {
    args: [1, 2],
    usage: 'ifconfig-pool-persist FILE [SECONDS]',
    modes: SERVER,
    apply: (d, [f, s], { fail }) => {
      const seconds = s === undefined ? DEFAULT_POOL_PERSIST_SECONDS : int(s, 'seconds', 0, 86400, fail, 'ifconfig-pool-persist ipp.txt 600');
      d.cfg.poolPersist = { file: path(d, f!, fail), seconds };
    },
  },
  'client-to-client': { args: [0, 0], usage: 'client-to-client', modes: SERVER, apply: (d) => void (d.cfg.clientToClient = true) },
  push: { args: [1, 1], usage: 'push "OPTION" (quoted)', modes: SERVER, repeat: true, apply: (d, [o], { fail }) => void d.cfg.push!.push(pushOption(o!, fail)) },
  'redirect-gateway': {
    args: [1, 1],
    usage: 'redirect-gateway def1',
    modes: ['static', 'client'],
    apply: (d, [f], { fail }) => {
      if (f !== 'def1') fail(`insel redirects with def1 only, not ${quote(f!)}`, 'write redirect-gateway def1 (0.0.0.0/1 and 128.0.0.0/1 through the tunnel; IPv6 too when the tunnel has IPv6)');
      d.cfg.redirectGateway = true;
    },
  },
  route: {
    args: [1, 3],
    usage: 'route NETWORK [NETMASK [GATEWAY]]',
    modes: ALL,
    repeat: true,
    apply: (d, [n, m = '255.255.255.255', g], { fail }) => {
      ipv4Network(n!, m, fail, ROUTE_EXAMPLE);
      d.cfg.routes!.push({ network: n!, netmask: m, ...(g === undefined ? {} : { gateway: ipv4(g, 'gateway', fail, 'route 10.1.0.0 255.255.0.0 10.8.0.1') }) });
    },
  },
  'route-ipv6': {
    args: [1, 2],
    usage: 'route-ipv6 NETWORK/PREFIX [GATEWAY]',
    modes: ALL,
    repeat: true,
    apply: (d, [n, g], { fail }) => {
      const net = ipv6Network(n!, 'network', fail, ROUTE6_EXAMPLE);
      d.cfg.routesIpv6!.push({ ...net, ...(g === undefined ? {} : { gateway: ipv6(g, 'gateway', fail, 'route-ipv6 fd00:1::/64 fd00::1') }) });
    },
  },
  keepalive: {
    args: [2, 2],
    usage: 'keepalive INTERVAL TIMEOUT (seconds)',
    modes: ALL,
    apply: (d, [i, t], { fail }) => {
      const intervalS = int(i!, 'interval', 1, 3600, fail, 'keepalive 10 60');
      const timeoutS = int(t!, 'timeout', 1, 86400, fail, 'keepalive 10 60');
      if (timeoutS < 2 * intervalS) fail(`the timeout (${timeoutS}s) is shorter than two intervals (${2 * intervalS}s)`, 'one lost keepalive must not end the session, e.g. keepalive 10 60');
      d.cfg.keepalive = { intervalS, timeoutS };
    },
  },
  'tun-mtu': { args: [1, 1], usage: 'tun-mtu N', modes: ALL, apply: (d, [n], { fail }) => void (d.cfg.tunMtu = int(n!, 'MTU', TUN_MTU.min, TUN_MTU.max, fail, 'tun-mtu 1420')) },
  mssfix: {
    args: [0, 1],
    usage: 'mssfix [N] (0: off)',
    modes: ALL,
    // No number: the default (tun-mtu), as OpenVPN's bare mssfix means its default.
    apply: (d, [n], { fail }) => {
      if (n !== undefined) d.cfg.mssfix = n === '0' ? 0 : int(n, 'size', TUN_MTU.min, TUN_MTU.max, fail, 'mssfix 1400');
    },
  },
  'comp-lzo': {
    args: [0, 1],
    usage: 'comp-lzo [yes|no|adaptive]',
    modes: ALL,
    apply: (d, [a], { fail, at }) => {
      if (a !== undefined && a !== 'yes' && a !== 'no' && a !== 'adaptive') fail(`unknown mode ${quote(a)}`, 'use comp-lzo no, or leave it out');
      compression(d, a !== 'no', at, 'comp-lzo');
    },
  },
  compress: {
    args: [0, 1],
    usage: 'compress [lz4|lz4-v2|lzo|stub|stub-v2]',
    modes: ALL,
    // OpenVPN: a bare compress, or stub, is framing without compression.
    apply: (d, [a], { fail, at }) => {
      if (a !== undefined && !['lz4', 'lz4-v2', 'lzo', 'stub', 'stub-v2'].includes(a)) fail(`unknown or unsupported algorithm ${quote(a)}`, 'leave compress out');
      compression(d, a !== undefined && !a.startsWith('stub'), at, 'compress');
    },
  },
  cipher: { args: [1, 1], usage: 'cipher AES-256-GCM|CHACHA20-POLY1305', modes: ALL, apply: (d, [c], { fail }) => void (d.cipher = aead(c!, fail)) },
  'data-ciphers': { args: [1, 1], usage: 'data-ciphers AES-256-GCM:CHACHA20-POLY1305', modes: ALL, apply: (d, [c], { fail }) => void (d.dataCiphers = aeadList(c!, fail)) },
  'data-ciphers-fallback': { args: [1, 1], usage: 'data-ciphers-fallback AES-256-GCM|CHACHA20-POLY1305', modes: ALL, apply: (d, [c], { fail }) => void (d.fallback = aead(c!, fail)) },
  auth: { args: [1, 1], usage: 'auth SHA256|SHA384|SHA512', modes: ALL, apply: (_d, [a], { fail }) => authDigest(a!, fail) },
  user: {
    args: [1, 1],
    usage: 'user NAME',
    modes: ALL,
    apply: (d, [u], { fail }) => {
      if (!NAME.test(u!)) fail(`${quote(u!)} is not a user name`, 'e.g. user nobody');
      d.cfg.user = u!;
    },
  },
  group: {
    args: [1, 1],
    usage: 'group NAME',
    modes: ALL,
    apply: (d, [g], { fail }) => {
      if (!NAME.test(g!)) fail(`${quote(g!)} is not a group name`, 'e.g. group nogroup');
      d.cfg.group = g!;
    },
  },
  verb: { args: [1, 1], usage: 'verb 0-11', modes: ALL, apply: (d, [v], { fail }) => void (d.cfg.verb = int(v!, 'level', 0, 11, fail, 'verb 3')) },
  status: {
    args: [1, 2],
    usage: 'status FILE [SECONDS]',
    modes: ALL,
    apply: (d, [f, s], { fail }) => {
      const seconds = s === undefined ? DEFAULT_STATUS_SECONDS : int(s, 'seconds', 1, 86400, fail, 'status status.log 60');
      d.cfg.status = { file: path(d, f!, fail), seconds };
    },
  },
  'status-socket': {
    args: [1, 1],
    usage: 'status-socket PATH',
    modes: ALL,
    apply: (d, [p], { fail }) => {
      const abs = path(d, p!, fail);
      if (Buffer.byteLength(abs) > SOCKET_PATH_MAX) fail(`${abs} is longer than a UNIX socket path may be (${SOCKET_PATH_MAX} bytes)`, 'choose a shorter path, e.g. status-socket /run/insel/vpn.sock');
      d.cfg.statusSocket = abs;
    },
  },
  'max-clients': { args: [1, 1], usage: 'max-clients N', modes: SERVER, apply: (d, [n], { fail }) => void (d.cfg.maxClients = int(n!, 'count', 1, 65535, fail, 'max-clients 1024')) },
  'auth-user-pass-verify': {
    args: [2, 2],
    usage: 'auth-user-pass-verify SCRIPT via-env|via-file',
    modes: SERVER,
    apply: (d, [s, m], { fail }) => {
      const method = m === 'via-env' || m === 'via-file' ? m : fail(`unknown method ${quote(m!)}`, 'use via-env or via-file');
      d.cfg.authUserPassVerify = { script: path(d, s!, fail), method };
    },
  },
  'auth-users': { args: [1, 1], usage: 'auth-users FILE', modes: SERVER, apply: (d, [f], { fail }) => void (d.cfg.authUsers = path(d, f!, fail)) },
  'auth-user-pass': {
    args: [1, 1],
    usage: 'auth-user-pass FILE (a username line and a password line; insel does not prompt)',
    modes: CLIENT,
    apply: (d, [f], { fail }) => void (d.cfg.authUserPass = path(d, f!, fail)),
  },
  'http-proxy': {
    args: [2, 2],
    usage: 'http-proxy HOST PORT (proxy authentication is not supported)',
    modes: CLIENT,
    apply: (d, [h, p], { fail }) => {
      const ex = 'http-proxy proxy.example.com 3128';
      d.cfg.httpProxy = { host: host(h!, fail, ex), port: port(p!, fail, ex) };
    },
  },
  nat: {
    args: [0, 1],
    usage: 'nat [OUT-INTERFACE]',
    modes: ['static', 'server'],
    apply: (d, [i], { fail }) => void (d.cfg.nat = i === undefined ? {} : { outInterface: ifname(i, fail, 'nat eth0') }),
  },
};

/** OpenVPN directives people carry over that insel does not read: why each is not needed. */
export const OPENVPN_ONLY: Record<string, string> = {
  'persist-key': 'an OpenVPN restart option; insel does not restart to rekey',
  'persist-tun': 'an OpenVPN restart option; insel does not restart to rekey',
  topology: 'an insel server gives each client one address of the pool',
  dh: 'insel uses TLS 1.3 key exchange, not DH parameter files',
  'tls-auth': 'the TLS 1.3 handshake authenticates; there is no extra HMAC key',
  'tls-crypt': 'the TLS 1.3 handshake authenticates; there is no extra key',
  'script-security': 'insel runs only the auth-user-pass-verify script, without a shell',
};
