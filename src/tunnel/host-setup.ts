// Addresses and routes on the tunnel device, from the config (static mode,
// the server) or from the server's ACCEPT (a client). Replace, not add, for
// what a reconnect applies again.
import { addAddress, addRoute, ip } from '../hostnet/ip.js';
import type { TunnelConfig } from '../tunconfig/index.js';
import type { TunAccept } from './wire.js';

export function maskPrefix(mask: string): number {
  return mask.split('.').reduce((n, octet) => n + [...(Number(octet) >>> 0).toString(2)].filter((b) => b === '1').length, 0);
}

/** `ifconfig L R` (tun, point-to-point) or `ifconfig IP MASK` (tap), and `ifconfig-ipv6`. */
export async function addressesFromIfconfig(cfg: TunnelConfig, dev: string): Promise<void> {
  const i = cfg.ifconfig;
  if (i !== undefined) {
    if (cfg.dev.type === 'tun') await addAddress(dev, i.local, i.remote);
    else await addAddress(dev, `${i.local}/${maskPrefix(i.netmask ?? '255.255.255.0')}`);
  }
  const i6 = cfg.ifconfigIpv6;
  if (i6 !== undefined) await addAddress(dev, `${i6.local}/${i6.prefix}`);
}

/** `route` and `route-ipv6`: via their gateway, else via the device. */
export async function addConfiguredRoutes(cfg: TunnelConfig, dev: string): Promise<void> {
  for (const r of cfg.routes) await replaceRoute(`${r.network}/${maskPrefix(r.netmask)}`, dev, r.gateway);
  for (const r of cfg.routesIpv6) await replaceRoute(`${r.network}/${r.prefix}`, dev, r.gateway);
}

/** What a client's ACCEPT says: its addresses and the pushed routes. */
export async function applyAccept(a: TunAccept, dev: string, cfg: TunnelConfig): Promise<void> {
  if (a.ipv4 !== undefined) await replaceAddress(dev, `${a.ipv4.address}/${a.ipv4.prefix}`);
  if (a.ipv6 !== undefined) await replaceAddress(dev, `${a.ipv6.address}/${a.ipv6.prefix}`);
  for (const r of a.routes) await replaceRoute(`${r.network}/${r.prefix}`, dev);
  await addConfiguredRoutes(cfg, dev);
}

export { addAddress, addRoute };

async function replaceAddress(dev: string, cidr: string): Promise<void> {
  const v6 = cidr.includes(':');
  await ip([...(v6 ? ['-6'] : []), 'addr', 'replace', cidr, 'dev', dev, ...(v6 ? ['nodad'] : [])]);
}

async function replaceRoute(dst: string, dev: string, via?: string): Promise<void> {
  await ip([...(dst.includes(':') ? ['-6'] : []), 'route', 'replace', dst, ...(via === undefined ? [] : ['via', via]), 'dev', dev]);
}
