// CA-mode client as the daemon runs it: the session's addresses and routes
// on the device, redirect-gateway (undone at exit, repaired after a crash),
// and the MTU that PMTU discovery finds.
import { setLink } from '../hostnet/ip.js';
import { redirectGateway, redirectStateFile } from '../hostnet/redirect-gateway.js';
import { datagramSizeFor } from './client/pmtu.js';
import { TunnelClient, TUNNEL_OVERHEAD } from './client/client.js';
import { readClientCredentials } from './auth/auth-user-pass.js';
import { applyAccept } from './host-setup.js';
import { identityOf, HANDSHAKE_TIMEOUT_MS } from './identity.js';
import type { ModeContext, RunningMode } from './mode.js';

/** The underlay's largest datagram when nothing better is known (Ethernet). */
const UNDERLAY_MTU = 1500;
/** The smallest MTU a link carrying IPv6 may have (RFC 8200). */
const IPV6_MIN_MTU = 1280;

export async function runClient(c: ModeContext): Promise<RunningMode> {
  const { cfg, device, log, plane } = c;
  let undoRedirect: (() => Promise<void>) | undefined;
  let applied: string | undefined;
  let mtu = cfg.tunMtu;
  // MTU changes come in bursts (base, then the searched size): applied in order, the last one wins.
  let linkSet = Promise.resolve();
  const client = new TunnelClient({
    plane,
    identity: identityOf(cfg),
    remotes: cfg.remotes,
    aeads: cfg.aeads,
    ...(cfg.authUserPass === undefined ? {} : { credentials: readClientCredentials(cfg.authUserPass) }),
    ...(cfg.httpProxy === undefined ? {} : { httpProxy: cfg.httpProxy }),
    tcpOnly: cfg.proto === 'tcp',
    maxDatagram: Math.min(datagramSizeFor(UNDERLAY_MTU, 4), cfg.tunMtu + TUNNEL_OVERHEAD),
    handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
    onAccept: async (a) => {
      const key = JSON.stringify([a.ipv4, a.ipv6, a.routes]);
      if (applied !== key) {
        if (applied !== undefined) log.warn('the server gave us other addresses or routes: applying them');
        applied = key;
        await applyAccept(a, device, cfg);
      }
      if ((a.redirectGateway || cfg.redirectGateway) && undoRedirect === undefined) {
        const server = client.serverAddress ?? cfg.remotes[0]!.host;
        undoRedirect = await redirectGateway(server, device, a.ipv6 !== undefined, redirectStateFile(device));
        c.undo.push(() => undoRedirect?.());
        log.info(`all traffic now goes through the tunnel (redirect-gateway def1; ${server} stays on its own route)`);
      }
    },
    onMtu: (m) => {
      mtu = Math.min(m, cfg.tunMtu);
      // Below IPv6's minimum the kernel takes IPv6 (and its addresses) off the device for good:
      // with IPv6 the device keeps 1280 and the MSS clamp alone fits TCP to the path.
      const next = client.accepted?.ipv6 === undefined ? mtu : Math.max(mtu, IPV6_MIN_MTU);
      linkSet = linkSet.then(() => setLink(device, { mtu: next })).catch((err: Error) => log.warn(`cannot set the MTU of ${device} to ${next}: ${err.message}`));
      if (cfg.mssfix !== 0) plane.setMss(Math.min(cfg.mssfix, mtu) - 40);
    },
    log,
    clock: c.clock,
  });
  await client.start();
  return {
    tick: () => client.tick(),
    shutdown: async (reason) => client.close(reason),
    peers: () => [
      {
        id: 1,
        identity: client.serverName ?? '-',
        real: client.serverAddress ?? '-',
        rung: client.rung ?? '-',
        rungWhy: client.rungWhy,
        ...(client.accepted?.ipv4 ? { v4: client.accepted.ipv4.address } : {}),
        ...(client.accepted?.ipv6 ? { v6: client.accepted.ipv6.address } : {}),
      },
    ],
    mtu: () => mtu,
  };
}
