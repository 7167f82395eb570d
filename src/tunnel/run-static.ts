// Static-key mode as the daemon runs it (seed 004's example).
import { lookup } from 'node:dns/promises';
import { readStaticKey } from '../pki/static-key.js';
import { addConfiguredRoutes, addressesFromIfconfig } from './host-setup.js';
import { TunnelError } from './errors.js';
import type { ModeContext, RunningMode } from './mode.js';
import { StaticTunnel } from './static/static-mode.js';

export async function runStatic(c: ModeContext): Promise<RunningMode> {
  const { cfg, device, log } = c;
  if (cfg.proto === 'tcp') {
    throw new TunnelError('INSEL_TUNNEL_SETUP', `${cfg.file}: proto tcp: static-key mode runs over UDP only; remove "proto tcp", or use CA mode (server/client), whose clients fall back to TLS over TCP by themselves`, { file: cfg.file });
  }
  await addressesFromIfconfig(cfg, device);
  await addConfiguredRoutes(cfg, device);
  const remote = cfg.remotes[0];
  const st = new StaticTunnel({
    plane: c.plane,
    secret: readStaticKey(cfg.secret!),
    aead: cfg.aeads[0]!,
    ...(remote === undefined ? {} : { remote: { host: await resolveHost(remote.host), port: remote.port } }),
    keepaliveMs: cfg.keepalive.intervalS * 1000,
    timeoutMs: cfg.keepalive.timeoutS * 1000,
    log,
    now: () => c.clock.now(),
  });
  log.info(`static-key tunnel on ${device}, UDP port ${c.udpPort}${remote ? `, peer ${remote.host}:${remote.port}` : ', waiting for the peer'}`);
  return {
    tick: () => st.tick(),
    shutdown: async (reason) => st.close(reason),
    peers: () => [{ id: 1, identity: 'static-key peer', real: st.peerPath ?? '-', rung: st.peerKnown ? 'udp' : '-' }],
  };
}

export async function resolveHost(host: string): Promise<string> {
  try {
    return (await lookup(host)).address;
  } catch (err) {
    throw new TunnelError('INSEL_TUNNEL_UNREACHABLE', `cannot resolve remote ${host}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
}
