// From a draft to a TunnelConfig: the mode (mode.ts), then the checks that
// span directives, and the defaults.
import { resolve } from 'node:path';
import { netmask } from './addresses.js';
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
import { failAt, type Draft } from './draft.js';
import { checkMode } from './mode.js';
import type { TunnelConfig } from './types.js';

export function finish(d: Draft): TunnelConfig {
  const { src, cfg } = d;
  const mode = checkMode(d);

  const dev = cfg.dev!;
  let ifconfig: TunnelConfig['ifconfig'];
  if (d.ifconfig !== undefined) {
    const [local, other] = d.ifconfig;
    const fail = failAt(d, 'ifconfig');
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
  if ((cfg.ifconfigIpv6 !== undefined || cfg.serverIpv6 !== undefined) && tunMtu < 1280) failAt(d, 'tun-mtu')(`${tunMtu} is below IPv6's minimum MTU of 1280`, 'use tun-mtu 1280 or more, or no IPv6');
  const mssfix = cfg.mssfix ?? tunMtu;
  if (mssfix > tunMtu) failAt(d, 'mssfix')(`${mssfix} is above tun-mtu ${tunMtu}`, `use mssfix ${tunMtu} or less (or leave the number out: tun-mtu)`);

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
