// CA-mode server as the daemon runs it: its addresses on the device, NAT
// when asked, the pool, password checks, and SIGHUP's CRL reload.
import { enableNat } from '../hostnet/nat.js';
import { passwordCheck } from './auth/auth-user-pass.js';
import { addAddress, addConfiguredRoutes, maskPrefix } from './host-setup.js';
import { identityOf, HANDSHAKE_TIMEOUT_MS } from './identity.js';
import type { ModeContext, RunningMode } from './mode.js';
import { AddressPool } from './pool/pool.js';
import { formatIp } from './pool/ip-bigint.js';
import { poolRange } from './pool/pool-range.js';
import { TunnelServer } from './server/server.js';
import type { PushedRoute } from './wire.js';

export async function runServer(c: ModeContext): Promise<RunningMode> {
  const { cfg, device, log, plane } = c;
  const pool = new AddressPool(cfg, (m) => log.warn(m));
  c.undo.push(() => pool.close());
  const ipv4 = cfg.server === undefined ? undefined : { gateway: formatIp(poolRange(4, cfg.server.network, cfg.server.prefix, cfg.file, 'server').server, 4), prefix: cfg.server.prefix };
  const ipv6 = cfg.serverIpv6 === undefined ? undefined : { gateway: formatIp(poolRange(6, cfg.serverIpv6.network, cfg.serverIpv6.prefix, cfg.file, 'server-ipv6').server, 6), prefix: cfg.serverIpv6.prefix };
  if (ipv4 !== undefined) await addAddress(device, `${ipv4.gateway}/${ipv4.prefix}`);
  if (ipv6 !== undefined) await addAddress(device, `${ipv6.gateway}/${ipv6.prefix}`);
  await addConfiguredRoutes(cfg, device);
  if (cfg.nat !== undefined) {
    c.undo.push(
      await enableNat({
        name: device,
        ...(cfg.server === undefined ? {} : { pool4: `${cfg.server.network}/${cfg.server.prefix}` }),
        ...(cfg.serverIpv6 === undefined ? {} : { pool6: `${cfg.serverIpv6.network}/${cfg.serverIpv6.prefix}` }),
        ...(cfg.nat.outInterface === undefined ? {} : { outIf: cfg.nat.outInterface }),
      }),
    );
    log.info(`NAT: ${device}'s pool is masqueraded towards ${cfg.nat.outInterface ?? 'the default route'}`);
  }
  const checkPassword = passwordCheck(cfg);
  const routes: PushedRoute[] = cfg.push.flatMap((p) =>
    p.kind === 'route' ? [{ network: p.network, prefix: maskPrefix(p.netmask) }] : p.kind === 'route-ipv6' ? [{ network: p.network, prefix: p.prefix }] : [],
  );
  const server = new TunnelServer({
    plane,
    identity: identityOf(cfg),
    host: cfg.local ?? '::',
    tcpPort: cfg.tcpPort,
    udpPort: c.udpPort,
    pool,
    ...(checkPassword === undefined ? {} : { checkPassword }),
    ...(ipv4 === undefined ? {} : { ipv4 }),
    ...(ipv6 === undefined ? {} : { ipv6 }),
    routes,
    redirectGateway: cfg.push.some((p) => p.kind === 'redirect-gateway'),
    mtu: cfg.tunMtu,
    keepaliveS: [cfg.keepalive.intervalS, cfg.keepalive.timeoutS],
    aeads: cfg.aeads,
    maxClients: cfg.maxClients,
    handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
    unauth: { perSource: 16, total: 128, timeoutMs: HANDSHAKE_TIMEOUT_MS },
    log,
    now: () => c.clock.now(),
  });
  await server.listen();
  c.undo.push(() => server.close());
  log.info(`server on ${device}: UDP ${c.udpPort}, TLS/TCP ${server.tcpPort}`);
  return {
    tick: () => server.tick(),
    shutdown: (reason) => server.close(reason),
    reload: () => {
      const fresh = identityOf(cfg);
      const cut = server.setTrust(fresh.ca, fresh.crl);
      log.info(`reloaded the CA and CRL: ${cut} client(s) cut`);
    },
    peers: () =>
      server.clients.map((s) => ({
        id: s.id,
        identity: s.info.key,
        real: s.real,
        rung: s.real === 'tcp' ? 'tcp' : 'udp',
        since: new Date(Date.now() - (c.clock.now() - s.info.startedAt)).toISOString(),
        ...(s.info.ipv4 === undefined ? {} : { v4: s.info.ipv4 }),
        ...(s.info.ipv6 === undefined ? {} : { v6: s.info.ipv6 }),
      })),
  };
}
