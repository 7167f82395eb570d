// From a draft to a TunnelConfig: the mode (static if `secret`; server if
// `server`/`server-ipv6`; client if `client`, or `remote` with `ca` or
// `profile`), directives that contradict it, what each mode needs, the
// checks that span directives, and the defaults.
import { resolve } from 'node:path';
import { netmask, type Fail } from './addresses.js';
import {
  DEFAULT_AEADS,
  DEFAULT_KEEPALIVE,
  DEFAULT_MAX_CLIENTS,
  DEFAULT_TCP_PORT,
  DEFAULT_TUN_MTU,
  DEFAULT_UDP_PORT,
  DEFAULT_VERB,
  defaultStatusSocket,
} from './defaults.js';
import { DIRECTIVES } from './directives.js';
import type { Draft } from './draft.js';
import type { TunnelConfig, TunnelMode } from './types.js';
import { lineError, show, type Where } from './where.js';

const MODE_NAME: Record<TunnelMode, string> = { static: 'a static-key config', server: 'a CA server config', client: 'a CA client config' };

/** What a directive is for, by the modes it belongs to. */
function belongsTo(modes: readonly TunnelMode[]): string {
  const key = [...modes].sort().join(' ');
  if (key === 'server') return 'it is for a CA server (server NETWORK NETMASK with ca, cert and key)';
  if (key === 'client') return 'it is for a CA client (client, remote, ca, cert and key)';
  if (key === 'static') return 'it is for static-key mode (secret FILE)';
  if (key === 'client server') return 'it is for CA mode (ca, cert and key); static-key mode uses secret only';
  if (key === 'client static') return 'it is for a client, or a static-key end with remote';
  return 'it is for a server, or static-key mode';
}

/** Better advice than belongsTo for a few directive-in-mode mistakes. */
const INSTEAD: Partial<Record<string, Partial<Record<TunnelMode, string>>>> = {
  ifconfig: { server: 'a server takes its address from server NETWORK NETMASK: remove it', client: 'a client gets its address from the server: remove it' },
  'ifconfig-ipv6': { server: 'a server takes its address from server-ipv6: remove it', client: 'a client gets its address from the server: remove it' },
  'redirect-gateway': { server: 'push it to the clients instead: push "redirect-gateway def1"' },
  remote: { server: 'a server waits for its clients: remove it' },
};

export function finish(d: Draft): TunnelConfig {
  const { src, seen, cfg } = d;
  const at = (directive: string): Where => ({ src, line: seen.get(directive) ?? 1 });
  const failAt = (directive: string): Fail => (problem, hint) => {
    throw lineError(at(directive), directive, problem, hint);
  };
  const has = (directive: string) => seen.has(directive);
  const later = (a: string, b: string) => (at(a).line > at(b).line ? a : b);

  const why = ['secret', 'server', 'server-ipv6', 'client'].find(has) ?? (has('remote') && (has('ca') || has('profile')) ? 'remote' : undefined);
  if (why === undefined) {
    if (has('remote')) failAt('remote')('a peer needs keys', 'add secret FILE (static key), or ca, cert and key (CA client)');
    throw lineError({ src, line: 1 }, '', 'no mode: neither secret, server nor client', 'add secret FILE (static key, point to point), server NETWORK NETMASK with ca, cert and key (CA server), or client with remote, ca, cert and key (CA client)');
  }
  const mode: TunnelMode = why === 'secret' ? 'static' : why.startsWith('server') ? 'server' : 'client';

  for (const [name] of [...seen].sort((a, b) => a[1] - b[1])) {
    const spec = DIRECTIVES[name]!;
    if (spec.modes.includes(mode)) continue;
    failAt(name)(`does not belong in ${MODE_NAME[mode]} (${show(src, why)} at line ${at(why).line})`, INSTEAD[name]?.[mode] ?? `${belongsTo(spec.modes)}: remove it, or remove ${show(src, why)}`);
  }

  if (!has('dev')) throw lineError({ src, line: 1 }, '', 'no dev', `add ${show(src, 'dev')} tun (or tap)`);
  if (mode === 'static' && !has('ifconfig') && !has('ifconfig-ipv6')) failAt('secret')('a static-key end needs its tunnel addresses', 'add ifconfig LOCAL REMOTE, e.g. ifconfig 10.0.0.1 10.0.0.2');
  if (mode !== 'static') {
    const files = ['ca', 'cert', 'key', 'crl-verify'].filter(has);
    if (has('profile') && files.length > 0) {
      const other = files.reduce(later);
      failAt(later('profile', other))(`both profile (line ${at('profile').line}) and ${show(src, other)} (line ${at(other).line})`, 'set either profile DIR or ca, cert, key and crl-verify, not both');
    }
    const missing = ['ca', 'cert', 'key'].filter((k) => !has(k));
    if (!has('profile') && missing.length > 0) {
      failAt(why)(`${MODE_NAME[mode]} needs ${missing.map((k) => show(src, k)).join(', ')}`, `add ca FILE (the CA), cert FILE and key FILE (this end's, from insel pki issue), or profile DIR (insel pki export)`);
    }
  }
  if (mode === 'client' && d.remotes.length === 0) failAt('client')('a client needs the server address', 'add remote HOST [PORT]');
  if (mode === 'static' && has('redirect-gateway') && d.remotes.length === 0) failAt('redirect-gateway')('needs remote: the server address stays reachable outside the tunnel', 'add remote HOST, or remove redirect-gateway on the end that waits');
  if (has('comp-lzo') && has('compress')) failAt(later('comp-lzo', 'compress'))('both comp-lzo and compress', 'keep one (or neither)');

  const dev = cfg.dev!;
  let ifconfig: TunnelConfig['ifconfig'];
  if (d.ifconfig !== undefined) {
    const [local, other] = d.ifconfig;
    const fail = failAt('ifconfig');
    if (dev.type === 'tap') {
      netmask(other, fail, 'ifconfig 10.0.0.1 255.255.255.0 (tap: IP NETMASK)');
      ifconfig = { local, netmask: other };
    } else {
      if (other.startsWith('255.')) fail(`${other} looks like a netmask, but a tun device is point to point`, 'write ifconfig LOCAL REMOTE (e.g. ifconfig 10.0.0.1 10.0.0.2), or use dev tap for ifconfig IP NETMASK');
      if (other === local) fail(`the local and remote address are both ${local}`, 'e.g. ifconfig 10.0.0.1 10.0.0.2 on one end, ifconfig 10.0.0.2 10.0.0.1 on the other');
      ifconfig = { local, remote: other };
    }
  }

  const tunMtu = cfg.tunMtu ?? DEFAULT_TUN_MTU;
  if ((cfg.ifconfigIpv6 !== undefined || cfg.serverIpv6 !== undefined) && tunMtu < 1280) failAt('tun-mtu')(`${tunMtu} is below IPv6's minimum MTU of 1280`, 'use tun-mtu 1280 or more, or no IPv6');
  const mssfix = cfg.mssfix ?? tunMtu;
  if (mssfix > tunMtu) failAt('mssfix')(`${mssfix} is above tun-mtu ${tunMtu}`, `use mssfix ${tunMtu} or less (or leave the number out: tun-mtu)`);

  const aeads = [...(d.dataCiphers ?? (d.cipher !== undefined ? [d.cipher] : DEFAULT_AEADS))];
  for (const a of [d.cipher, d.fallback]) if (a !== undefined && !aeads.includes(a)) aeads.push(a);

  const port = cfg.port ?? DEFAULT_UDP_PORT;
  const tcpPort = cfg.tcpPort ?? DEFAULT_TCP_PORT;
  const file = resolve(src.file);
  return {
    file,
    mode,
    dev,
    proto: cfg.proto ?? 'udp',
    port,
    tcpPort,
    ...(cfg.local === undefined ? {} : { local: cfg.local }),
    remotes: d.remotes.map((r) => ({ host: r.host, port: r.port ?? port, tcpPort })),
    ...(ifconfig === undefined ? {} : { ifconfig }),
    ...pick(cfg, ['ifconfigIpv6', 'secret', 'ca', 'cert', 'key', 'crlVerify', 'profile', 'server', 'serverIpv6', 'poolPersist']),
    clientToClient: cfg.clientToClient ?? false,
    push: cfg.push!,
    redirectGateway: cfg.redirectGateway ?? false,
    routes: cfg.routes!,
    routesIpv6: cfg.routesIpv6!,
    keepalive: cfg.keepalive ?? { ...DEFAULT_KEEPALIVE },
    tunMtu,
    mssfix,
    compression: cfg.compression ?? 'none',
    aeads,
    ...pick(cfg, ['user', 'group']),
    verb: cfg.verb ?? DEFAULT_VERB,
    ...pick(cfg, ['status']),
    statusSocket: cfg.statusSocket ?? defaultStatusSocket(file),
    maxClients: cfg.maxClients ?? DEFAULT_MAX_CLIENTS,
    ...pick(cfg, ['authUserPassVerify', 'authUsers', 'authUserPass', 'httpProxy', 'nat']),
    warnings: cfg.warnings!,
  };
}

/** The keys of `o` that are set: optional fields stay absent, not undefined. */
function pick<K extends keyof TunnelConfig>(o: Partial<TunnelConfig>, keys: K[]): Partial<Pick<TunnelConfig, K>> {
  const out: Partial<Pick<TunnelConfig, K>> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}
