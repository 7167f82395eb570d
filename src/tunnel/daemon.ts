// `insel tunnel --config FILE`: from a TunnelConfig to a running tunnel.
// Order: repair what a crashed run left, open the device and the UDP socket,
// start the data plane, configure addresses and routes, start the mode
// (static, server, client), drop privileges, serve status; on SIGINT/SIGTERM
// everything is undone in reverse; SIGHUP reloads the CRL (server).
import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import type { TunnelConfig } from '../tunconfig/index.js';
import { readStaticKey } from '../pki/static-key.js';
import { addAddress, addRoute, setLink } from '../hostnet/ip.js';
import { redirectGateway, redirectStateFile, repairRoutes } from '../hostnet/redirect-gateway.js';
import { enableNat, repairNat } from '../hostnet/nat.js';
import { dropPrivileges } from '../hostnet/privileges.js';
import { openDevice, openUdp } from '../tun/device.js';
import { Plane } from '../tun/plane.js';
import { readIdentityFiles } from '../config/identity.js';
import type { IdentityPem } from '../pki/profile.js';
import { TunnelClient, TUNNEL_OVERHEAD } from './client.js';
import { TunnelServer } from './server.js';
import { StaticTunnel } from './static-mode.js';
import { consoleLog, type TunnelLog } from './log.js';
import { TunnelError } from './errors.js';
import { AddressPool } from './pool.js';
import { passwordCheck, readClientCredentials } from './auth-user-pass.js';
import { StatusServer } from './status-socket.js';
import { StatusFileWriter } from './status-file.js';
import { snapshotOf } from './status-snapshot.js';
import type { TunAccept } from './wire.js';

const TICK_MS = 250;
const ETHERNET_HEADER = 14;
const HANDSHAKE_TIMEOUT_MS = 10_000;

export interface RunningTunnel {
  device: string;
  mode: TunnelConfig['mode'];
  /** stops everything, undoing routes, NAT and the device; idempotent */
  stop(reason?: string): Promise<void>;
  /** resolves when stopped */
  done: Promise<void>;
}

type Undo = () => Promise<void> | void;

export async function runTunnel(cfg: TunnelConfig, log: TunnelLog = consoleLog(cfg.verb)): Promise<RunningTunnel> {
  for (const w of cfg.warnings) log.warn(w);
  const undo: Undo[] = [];
  const stopAll = async () => {
    for (const u of undo.splice(0).reverse()) {
      try {
        await u();
      } catch (err) {
        log.warn(`cleanup: ${(err as Error).message}`);
      }
    }
  };
  try {
    return await start(cfg, log, undo, stopAll);
  } catch (err) {
    await stopAll();
    throw err;
  }
}

async function start(cfg: TunnelConfig, log: TunnelLog, undo: Undo[], stopAll: () => Promise<void>): Promise<RunningTunnel> {
  const now = () => performance.now();
  const dev = openDevice({ type: cfg.dev.type, ...(cfg.dev.name === undefined ? {} : { name: cfg.dev.name }) });
  undo.push(() => dev.close());
  const name = dev.name;
  const redirectState = redirectStateFile(name);
  const repaired = await repairRoutes(redirectState);
  if (repaired.length > 0) log.warn(`removed ${repaired.length} route(s) a crashed earlier run left (${redirectState})`);
  const listens = cfg.mode === 'server' || (cfg.mode === 'static' && cfg.remotes.length === 0);
  const udp = openUdp(cfg.local ?? '::', listens || cfg.mode === 'static' ? cfg.port : 0);
  undo.push(() => udp.close());
  const maxPacket = cfg.tunMtu + (cfg.dev.type === 'tap' ? ETHERNET_HEADER : 0);
  const plane = new Plane({
    tunFd: dev.fd,
    udpFd: udp.fd,
    tap: cfg.dev.type === 'tap',
    maxPacket: Math.max(maxPacket, 9000),
    batch: 64,
    mss: cfg.mssfix,
    clientToClient: cfg.clientToClient,
  });
  undo.push(() => plane.close());
  await setLink(name, { mtu: cfg.tunMtu, up: true });

  let tick: () => void;
  let snapshot: () => ReturnType<typeof snapshotOf>;
  let shutdown: (reason: string) => void;
  let reload: (() => void) | undefined;

  if (cfg.mode === 'static') {
    if (cfg.ifconfig !== undefined) await addressesFromIfconfig(cfg, name);
    await addConfiguredRoutes(cfg, name);
    const remote = cfg.remotes[0];
    const st = new StaticTunnel({
      plane,
      secret: readStaticKey(cfg.secret!),
      aead: cfg.aeads[0]!,
      ...(remote === undefined ? {} : { remote: { host: await resolve(remote.host), port: remote.port } }),
      keepaliveMs: cfg.keepalive.intervalS * 1000,
      timeoutMs: cfg.keepalive.timeoutS * 1000,
      log,
      now,
    });
    tick = () => st.tick();
    shutdown = (r) => st.close(r);
    snapshot = () => snapshotOf({ cfg, device: name, plane, peers: [{ id: 1, identity: 'static peer', real: st.peerPath ?? '-', rung: 'udp' }] });
    log.info(`static-key tunnel on ${name}, UDP port ${udp.port}${remote ? `, peer ${remote.host}:${remote.port}` : ', waiting for the peer'}`);
  } else if (cfg.mode === 'server') {
    const identity = identityOf(cfg);
    const server4 = cfg.server === undefined ? undefined : firstHost(cfg.server.network);
    const server6 = cfg.serverIpv6 === undefined ? undefined : firstHost(cfg.serverIpv6.network);
    if (server4 !== undefined) await addAddress(name, `${server4}/${cfg.server!.prefix}`);
    if (server6 !== undefined) await addAddress(name, `${server6}/${cfg.serverIpv6!.prefix}`);
    await addConfiguredRoutes(cfg, name);
    if (cfg.nat !== undefined) {
      const stopNat = await enableNat({
        name,
        ...(cfg.server === undefined ? {} : { pool4: `${cfg.server.network}/${cfg.server.prefix}` }),
        ...(cfg.serverIpv6 === undefined ? {} : { pool6: `${cfg.serverIpv6.network}/${cfg.serverIpv6.prefix}` }),
        ...(cfg.nat.outInterface === undefined ? {} : { outInterface: cfg.nat.outInterface }),
      });
      undo.push(stopNat);
    }
    const pool = new AddressPool(cfg);
    const checkPassword = passwordCheck(cfg);
    const server = new TunnelServer({
      plane,
      identity,
      host: cfg.local ?? '::',
      tcpPort: cfg.tcpPort,
      udpPort: udp.port,
      pool,
      ...(checkPassword === undefined ? {} : { checkPassword }),
      ...(server4 === undefined ? {} : { ipv4: { gateway: server4, prefix: cfg.server!.prefix } }),
      ...(server6 === undefined ? {} : { ipv6: { gateway: server6, prefix: cfg.serverIpv6!.prefix } }),
      routes: cfg.push.filter((p) => p.kind !== 'redirect-gateway').map((p) => (p.kind === 'route' ? { network: p.network, prefix: maskPrefix(p.netmask) } : { network: p.network, prefix: p.prefix })),
      redirectGateway: cfg.push.some((p) => p.kind === 'redirect-gateway'),
      mtu: cfg.tunMtu,
      keepaliveS: [cfg.keepalive.intervalS, cfg.keepalive.timeoutS],
      aeads: cfg.aeads,
      maxClients: cfg.maxClients,
      handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
      unauth: { perSource: 16, total: 128, timeoutMs: HANDSHAKE_TIMEOUT_MS },
      log,
      now,
    });
    await server.listen();
    undo.push(() => server.close());
    tick = () => server.tick();
    shutdown = (r) => void server.close(r);
    reload = () => {
      const fresh = identityOf(cfg);
      const cut = server.setTrust(fresh.ca, fresh.crl);
      log.info(`SIGHUP: CA and CRL reloaded; ${cut} client(s) cut`);
    };
    snapshot = () =>
      snapshotOf({
        cfg,
        device: name,
        plane,
        peers: server.clients.map((s) => ({ id: s.id, identity: s.info.key, real: s.real, rung: s.real === 'tcp' ? 'tcp' : 'udp', ...(s.info.ipv4 ? { v4: s.info.ipv4 } : {}), ...(s.info.ipv6 ? { v6: s.info.ipv6 } : {}) })),
      });
    log.info(`server on ${name}: UDP ${udp.port}, TLS/TCP ${server.tcpPort}`);
  } else {
    const identity = identityOf(cfg);
    let undoRedirect: (() => Promise<void>) | undefined;
    let applied: string | undefined;
    const client = new TunnelClient({
      plane,
      identity,
      remotes: cfg.remotes,
      aeads: cfg.aeads,
      ...(cfg.authUserPass === undefined ? {} : { credentials: readClientCredentials(cfg.authUserPass) }),
      ...(cfg.httpProxy === undefined ? {} : { httpProxy: cfg.httpProxy }),
      tcpOnly: cfg.proto === 'tcp',
      maxDatagram: 1500 - 48,
      handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
      onAccept: async (a, _server) => {
        const key = JSON.stringify([a.ipv4, a.ipv6, a.routes, a.redirectGateway]);
        if (applied === key) return;
        if (applied !== undefined) log.warn('the server changed our addresses or routes: applying the new ones');
        applied = key;
        await applyAccept(a, name, cfg);
        if ((a.redirectGateway || cfg.redirectGateway) && undoRedirect === undefined) {
          undoRedirect = await redirectGateway(client.serverAddress ?? cfg.remotes[0]!.host, name, a.ipv6 !== undefined, redirectState);
          undo.push(() => undoRedirect?.());
        }
      },
      onMtu: (mtu) => {
        void setLink(name, { mtu }).catch((err: Error) => log.warn(`MTU ${mtu}: ${err.message}`));
        plane.setMss(mtu - 40);
        log.info(`path MTU: device MTU now ${mtu}`);
      },
      log,
      now,
    });
    await client.start();
    tick = () => client.tick();
    shutdown = (r) => client.close(r);
    snapshot = () => snapshotOf({ cfg, device: name, plane, peers: [{ id: 1, identity: client.serverName ?? '-', real: client.serverAddress ?? '-', rung: client.rung, rungWhy: client.ladder.why }], mtu: client.pmtu.plpmtu - TUNNEL_OVERHEAD });
  }

  const timer = setInterval(() => {
    try {
      tick();
    } catch (err) {
      log.warn(`tick: ${(err as Error).message}`);
    }
  }, TICK_MS);
  undo.push(() => clearInterval(timer));

  const status = await StatusServer.listen(cfg.statusSocket, () => snapshot());
  undo.push(() => status.close());
  if (cfg.status !== undefined) {
    const file = new StatusFileWriter(cfg.status.file, cfg.status.seconds * 1000, () => snapshot());
    undo.push(() => file.close());
  }
  if (cfg.user !== undefined || cfg.group !== undefined) {
    dropPrivileges(cfg.user, cfg.group);
    log.info(`running as ${cfg.user ?? ''}${cfg.group ? `:${cfg.group}` : ''} from now on`);
  }

  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  let stopping: Promise<void> | undefined;
  const stop = (reason = 'shutting down') =>
    (stopping ??= (async () => {
      try {
        shutdown(reason);
      } catch {
        /* the peers learn from the keepalive timeout instead */
      }
      await stopAll();
      resolveDone();
    })());
  const onHup = () => reload?.();
  process.on('SIGHUP', onHup);
  undo.push(() => void process.off('SIGHUP', onHup));
  return { device: name, mode: cfg.mode, stop, done };
}

function identityOf(cfg: TunnelConfig): IdentityPem {
  return readIdentityFiles(
    cfg.profile !== undefined
      ? { cert: `${cfg.profile}/cert.pem`, key: `${cfg.profile}/key.pem`, ca: `${cfg.profile}/ca.pem`, crl: cfg.crlVerify ?? `${cfg.profile}/crl.pem` }
      : { cert: cfg.cert!, key: cfg.key!, ca: cfg.ca!, ...(cfg.crlVerify === undefined ? {} : { crl: cfg.crlVerify }) },
    cfg.file,
  );
}

async function addressesFromIfconfig(cfg: TunnelConfig, dev: string): Promise<void> {
  const i = cfg.ifconfig!;
  if (cfg.dev.type === 'tun') await addAddress(dev, i.local, i.remote);
  else await addAddress(dev, `${i.local}/${maskPrefix(i.netmask!)}`);
  if (cfg.ifconfigIpv6 !== undefined) await addAddress(dev, `${cfg.ifconfigIpv6.local}/${cfg.ifconfigIpv6.prefix}`);
}

async function addConfiguredRoutes(cfg: TunnelConfig, dev: string): Promise<void> {
  for (const r of cfg.routes) await addRoute({ dst: `${r.network}/${maskPrefix(r.netmask)}`, ...(r.gateway === undefined ? { dev } : { via: r.gateway }) });
}

async function applyAccept(a: TunAccept, dev: string, cfg: TunnelConfig): Promise<void> {
  if (a.ipv4 !== undefined) await replaceAddress(dev, `${a.ipv4.address}/${a.ipv4.prefix}`);
  if (a.ipv6 !== undefined) await replaceAddress(dev, `${a.ipv6.address}/${a.ipv6.prefix}`);
  await setLink(dev, { mtu: Math.min(a.mtu, cfg.tunMtu), up: true });
  for (const r of a.routes) await replaceRoute(`${r.network}/${r.prefix}`, dev);
  await addConfiguredRoutes(cfg, dev);
}

async function replaceAddress(dev: string, cidr: string): Promise<void> {
  const { ip } = await import('../hostnet/ip.js');
  await ip([...(cidr.includes(':') ? ['-6'] : []), 'addr', 'replace', cidr, 'dev', dev, ...(cidr.includes(':') ? ['nodad'] : [])]);
}

async function replaceRoute(dst: string, dev: string): Promise<void> {
  const { ip } = await import('../hostnet/ip.js');
  await ip([...(dst.includes(':') ? ['-6'] : []), 'route', 'replace', dst, 'dev', dev]);
}

async function resolve(host: string): Promise<string> {
  try {
    return (await lookup(host)).address;
  } catch (err) {
    throw new TunnelError('INSEL_TUNNEL_UNREACHABLE', `cannot resolve remote ${host}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
}

export function maskPrefix(mask: string): number {
  return mask.split('.').reduce((n, octet) => n + (Number(octet) >>> 0).toString(2).replace(/0/g, '').length, 0);
}

/** The first host of a network: the server's own address in its pool (.1, ::1). */
export function firstHost(network: string): string {
  if (network.includes(':')) return network.replace(/::$/, '::1');
  const p = network.split('.').map(Number);
  p[3] = p[3]! + 1;
  return p.join('.');
}

void readFileSync;
