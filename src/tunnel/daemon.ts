// `insel tunnel --config FILE`: from a TunnelConfig to a running tunnel.
// Order: repair what a crashed run left, open the device and the UDP
// socket, start the data plane, run the mode (static, server, client), drop
// privileges, serve status. stop() undoes everything in reverse (routes,
// NAT, sockets, the device); the mode's peers are told first.
import { setLink } from '../hostnet/ip.js';
import { redirectStateFile, repairRoutes } from '../hostnet/redirect-gateway.js';
import { natStateFile, repairNat } from '../hostnet/nat.js';
import { dropPrivileges } from '../hostnet/privileges.js';
import { realClock, type Clock } from '../secsock/clock.js';
import { openTun, openUdp } from '../tun/device.js';
import { Plane } from '../tun/plane.js';
import { ConfigError } from '../config/errors.js';
import { TunDeviceError } from '../tun/errors.js';
import { configProblem, type TunnelConfig } from '../tunconfig/index.js';
import { consoleLog, type TunnelLog } from './log.js';
import type { ModeContext, RunningMode, Undo } from './mode.js';
import { runClient } from './run-client.js';
import { runServer } from './run-server.js';
import { runStatic } from './run-static.js';
import { statusServerFor } from './status/status-wiring.js';

const TICK_MS = 250;
const ETHERNET_HEADER = 14;
const PLANE_BATCH = 64;

export interface RunningTunnel {
  device: string;
  mode: TunnelConfig['mode'];
  running: RunningMode;
  /** Tells the peers, then undoes everything; idempotent. */
  stop(reason?: string): Promise<void>;
  reload(): void;
}

export async function runTunnel(cfg: TunnelConfig, log: TunnelLog = consoleLog(cfg.verb), clock: Clock = realClock): Promise<RunningTunnel> {
  for (const w of cfg.warnings) log.warn(w);
  const undo: Undo[] = [];
  const unwind = async () => {
    for (const u of undo.splice(0).reverse()) {
      try {
        await u();
      } catch (err) {
        log.warn(`cleanup: ${(err as Error).message}`);
      }
    }
  };
  try {
    // TUN offloads: a bulk TCP transfer costs one device read per 64 KiB (ARCHITECTURE.md); INSEL_TUN_OFFLOAD=0 turns them off.
    const offload = cfg.dev.type === 'tun' && process.env['INSEL_TUN_OFFLOAD'] !== '0';
    const open = (withOffload: boolean) => openTun({ tap: cfg.dev.type === 'tap', offload: withOffload, ...(cfg.dev.name === undefined ? {} : { name: cfg.dev.name }) });
    let dev;
    try {
      dev = open(offload);
    } catch (err) {
      if (!offload) throw err;
      // A kernel without TUN offloads still runs the tunnel, a packet per read; any other failure repeats below.
      dev = open(false);
      log.warn(`TUN offloads unavailable (${(err as Error).message}): one device read per packet`);
    }
    undo.push(() => dev.close());
    for (const file of [redirectStateFile(dev.name), natStateFile(dev.name)]) {
      const fixed = file.includes('redirect') ? (await repairRoutes(file)).length > 0 : await repairNat(file);
      if (fixed) log.warn(`undid what a crashed earlier run left (${file})`);
    }
    // A server and a static responder listen on `port`; a client and a static initiator take any port.
    const listens = cfg.mode === 'server' || (cfg.mode === 'static' && cfg.remotes.length === 0);
    const udp = openDataSocket(cfg, listens);
    undo.push(() => udp.close());
    const plane = new Plane({
      tunFd: dev.fd,
      udpFd: udp.fd,
      tap: dev.tap,
      offload: dev.offload,
      // The device MTU may rise to what PMTU finds; the plane drops only what no path could carry.
      maxPacket: Math.max(cfg.tunMtu, 9000) + (dev.tap ? ETHERNET_HEADER : 0),
      batch: PLANE_BATCH,
      mss: cfg.mssfix === 0 ? 0 : cfg.mssfix - 40,
      clientToClient: cfg.clientToClient,
    });
    plane.on('error', (err) => log.warn(`data plane event: ${err.message}`));
    undo.push(() => plane.close());
    await setLink(dev.name, { mtu: cfg.tunMtu, up: true });
    const ctx: ModeContext = { cfg, plane, device: dev.name, udpPort: udp.port, log, clock, undo };
    const running = await (cfg.mode === 'static' ? runStatic(ctx) : cfg.mode === 'server' ? runServer(ctx) : runClient(ctx));
    const stopTicker = clock.every(TICK_MS, () => {
      try {
        running.tick();
      } catch (err) {
        log.warn(`tick: ${(err as Error).message}`);
      }
    });
    undo.push(stopTicker);
    undo.push(await statusServerFor(cfg, dev.name, plane, running, log));
    if (cfg.user !== undefined || cfg.group !== undefined) {
      const d = dropPrivileges(cfg.user, cfg.group);
      log.info(`running as uid ${d.uid}, gid ${d.gid} from now on`);
    }
    let stopping: Promise<void> | undefined;
    return {
      device: dev.name,
      mode: cfg.mode,
      running,
      reload: () => running.reload?.(),
      stop: (reason = 'shutting down') =>
        (stopping ??= (async () => {
          await running.shutdown(reason).catch((err: Error) => log.warn(`telling the peers: ${err.message}`));
          await unwind();
        })()),
    };
  } catch (err) {
    await unwind();
    throw err;
  }
}

/** The data plane's UDP socket; a listening port another program holds is the config's `port` line's problem. */
function openDataSocket(cfg: TunnelConfig, listens: boolean): ReturnType<typeof openUdp> {
  const host = cfg.local ?? '::';
  try {
    return openUdp(host, listens ? cfg.port : 0);
  } catch (err) {
    if (!listens || !(err instanceof TunDeviceError)) throw err;
    const hint = `is another tunnel running? (ss -lunp 'sport = :${cfg.port}' names the program); stop it or choose another port`;
    throw new ConfigError(configProblem(cfg.file, 'port', `${err.message} (UDP ${cfg.port})`, hint), { file: cfg.file, field: 'port', cause: err });
  }
}
